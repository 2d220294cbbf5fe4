"""``python -m benchmarks [--quick] [--only speed,accuracy,scaling,detection,faces,generation,deploy,qa,probe,translation,text,int8,roofline]``.

Writes ``benchmarks/results/<date>-<host>.json`` and ``.md`` plus ``-speed/-accuracy/-scaling/-detection.png``.
Sections run with ``--only`` replace their part of an existing file of the same date and host.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import inspect
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import (accuracy, common, deploy, detection, faces, generation, int8, probe, qa, report, roofline,
                        scaling, speed, text, translation)

SECTIONS = {"speed": speed.run, "accuracy": accuracy.run, "scaling": scaling.run, "detection": detection.run,
            "faces": faces.run, "generation": generation.run, "deploy": deploy.run, "qa": qa.run,
            "probe": probe.run, "translation": translation.run, "text": text.run,
            "int8": int8.run, "roofline": roofline.run}
RESULTS = Path(__file__).resolve().parent / "results"


def auto_threads() -> int:
    """Idle CPUs only: on a shared machine, OpenMP threads that outnumber the free cores wait on descheduled
    siblings (measured 2.5-15x slower at 2 threads than at 1 with another job using both cores)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, round(cpus - os.getloadavg()[0])))


def environment(args) -> dict:
    import torch

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for name in ("graft", "torch", "torchvision", "timm", "transformers", "accelerate", "numpy", "pillow"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {"date": datetime.date.today().isoformat(), "hostname": socket.gethostname(), "cpu_model": cpu,
            "logical_cpus": os.cpu_count(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": args.threads, "load_at_start": os.getloadavg()[0], "seed": args.seed,
            "platform": platform.platform(), "versions": versions,
            "command": " ".join(["python -m benchmarks", *sys.argv[1:]])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small slices and fewer repeats (< 10 minutes)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated: " + ",".join(SECTIONS))
    parser.add_argument("--threads", default="auto",
                        help="intra-op threads for every contestant; auto: CPUs left idle by the 1-minute load "
                             "average at start (at least 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true", help="rewrite the .md and plots from today's .json")
    parser.add_argument("--row-timeout", type=float, default=None,
                        help="seconds one training row may run before it is recorded as timed out (detection; "
                             "default 1800 quick, 10800 full)")
    args = parser.parse_args(argv)
    args.threads = auto_threads() if args.threads == "auto" else int(args.threads)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    env = environment(args)
    stem = args.out / f"{env['date']}-{env['hostname']}"
    common.LOG = _with(stem, ".log")
    results = json.loads(_with(stem, ".json").read_text()) if _with(stem, ".json").exists() else {}
    if not args.report_only or "environment" not in results:
        results["environment"] = {**results.get("environment", {}), **env,
                                  "load": results.get("environment", {}).get("load", {})}
    workdir = Path(tempfile.mkdtemp(prefix="graft-bench-"))
    try:
        for name in [] if args.report_only else chosen:
            print(f"[benchmarks] {name} ({'quick' if args.quick else 'full'}) ...", flush=True)
            load, start = os.getloadavg()[0], time.perf_counter()
            run = SECTIONS[name]
            extra = {"row_timeout": args.row_timeout} if "row_timeout" in inspect.signature(run).parameters else {}
            section = run(quick=args.quick, threads=args.threads, seed=args.seed, workdir=workdir, **extra)
            section.update(mode="quick" if args.quick else "full", seconds=round(time.perf_counter() - start, 1),
                           command=env["command"], threads=args.threads)
            results[name] = section
            results["environment"]["load"][name] = [load, os.getloadavg()[0]]
            _write(results, stem)
            print(f"[benchmarks] {name} done in {section['seconds']:.0f}s", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.report_only:
        _write(results, stem)
    print(_with(stem, ".md").read_text())
    return 0


def _with(stem: Path, suffix: str) -> Path:
    return stem.parent / (stem.name + suffix)  # not with_suffix: a host name may contain dots


def _write(results: dict, stem: Path) -> None:
    tmp = _with(stem, ".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, default=str))
    os.replace(tmp, _with(stem, ".json"))
    _with(stem, ".md").write_text(report.markdown(results))
    report.plots(results, stem)


if __name__ == "__main__":
    sys.exit(main())
