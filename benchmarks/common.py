"""Shared helpers: clean subprocess environments, the worker protocol, timing, and the benchmark data."""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "@@BENCH@@ "
LOG: Path | None = None  # set by __main__: every worker's stdout/stderr is appended here


def clean_env(fast: bool, threads: int, **extra: str) -> dict[str, str]:
    """The parent's environment without allocator/graft tuning, plus fixed threads and offline flags."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MALLOC_", "GRAFT_", "OMP_", "MKL_")) and k not in ("LD_PRELOAD", "PYTHONPATH")}
    if "GRAFT_HOME" in os.environ:
        env["GRAFT_HOME"] = os.environ["GRAFT_HOME"]
    env.update(GRAFT_FAST="1" if fast else "0", GRAFT_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), GRAFT_OFFLINE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               GRAFT_QUIET="1", TOKENIZERS_PARALLELISM="false", PYTHONHASHSEED="0", PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def run_worker(func: str, kwargs: dict, fast: bool, threads: int, timeout: float = 3600,
               python: str | None = None, script: str | None = None, env_extra: dict | None = None) -> dict:
    """Run ``benchmarks.<module>.<func>(**kwargs)`` in a fresh interpreter; its dict result plus peak RSS.

    Failures come back as ``{"error": ...}`` (never raised), so one broken measurement costs one table cell.
    """
    cmd = [python or sys.executable]
    cmd += [script, json.dumps(kwargs)] if script else ["-m", "benchmarks.worker", func, json.dumps(kwargs)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=clean_env(fast, threads, **(env_extra or {})),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    if LOG is not None:
        with open(LOG, "a") as f:
            f.write(f"\n=== {func} fast={fast} {json.dumps(kwargs)} rc={proc.returncode} "
                    f"({time.perf_counter() - start:.0f}s)\n{proc.stdout}{proc.stderr}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
    return {"error": tail[0][:300]}


def emit(result: dict) -> None:
    """Worker side: print the result with this process's peak RSS (MiB)."""
    import resource

    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(MARK + json.dumps(result), flush=True)


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def timed(fn, warmup: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


# ------------------------------------------------------------------------------------------------- data

def image_files(folder: Path) -> dict[str, list[Path]]:
    """{class: sorted PNG paths} of a ``<folder>/<class>/*.png`` tree."""
    return {d.name: sorted(d.glob("*.png")) for d in sorted(Path(folder).iterdir()) if d.is_dir()}


def subset_folder(src: dict[str, list[Path]], dst: Path, per_class: int | None, seed: int) -> Path:
    """Copy ``per_class`` seeded random files of each class (all where None) to ``dst/<class>/``."""
    rng = random.Random(seed)
    for label, files in src.items():
        chosen = files if per_class is None or per_class >= len(files) else rng.sample(files, per_class)
        (dst / label).mkdir(parents=True, exist_ok=True)
        for f in chosen:
            shutil.copyfile(f, dst / label / f.name)
    return dst


def elpv_full(root: Path) -> Path:
    """The whole elpv binary dataset (train/test split of graft.datasets, seed 0)."""
    from graft.datasets import elpv

    return elpv(root, "binary")


def mobilenet_v2_weights() -> str:
    """Path of the packaged torchvision MobileNetV2 weights graft resolves offline."""
    from graft.backbones import get_cfg, resolve

    return str(resolve(get_cfg("mobilenet_v2")).location)


def minilm_dir() -> str:
    from graft.backbones import get_cfg, resolve

    return str(resolve(get_cfg("minilm-l6")).location)
