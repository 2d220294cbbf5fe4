"""Fine-tuning recipes on elpv, each one full fit plus a test evaluation through the public API.

``python -m benchmarks.elpv_recipes --out DIR [--only NAME,...] [--parallel N] [--seeds 0,1]``

Each recipe runs in its own process (``--parallel`` at a time; on a GPU several share it) and appends one JSON
line to ``DIR/recipes.jsonl`` when it ends, so a run cut short keeps what finished. Its log goes to
``DIR/logs/<name>-s<seed>.log``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# The demo's fine-tuning recipe (graft.demo), then variations on it. Keys are ImageClassifier options.
DEMO_FT = dict(strategy="fine-tune", epochs=12, head_epochs=10, lr=5e-4, lr_decay=0.75, label_smoothing=0.0,
               min_scale=0.75, vflip=True, train_bn=True)
NATIVE = dict(image_size=300, crop_pct=1.0)  # elpv cells are 300 px: no downscale, no centre crop
RECIPES = {
    "binary-demo": ("binary", "mobilenet_v2", DEMO_FT),
    "binary-crop1": ("binary", "mobilenet_v2", {**DEMO_FT, "crop_pct": 1.0}),
    "binary-300": ("binary", "mobilenet_v2", {**DEMO_FT, **NATIVE}),
    "binary-300-30ep": ("binary", "mobilenet_v2", {**DEMO_FT, **NATIVE, "epochs": 30, "patience": 10}),
    "binary-384-30ep": ("binary", "mobilenet_v2", {**DEMO_FT, "image_size": 384, "crop_pct": 1.0, "epochs": 30,
                                                   "patience": 10}),
    "binary-448-30ep": ("binary", "mobilenet_v2", {**DEMO_FT, "image_size": 448, "crop_pct": 1.0, "epochs": 30,
                                                   "patience": 10}),
    "binary-512-30ep": ("binary", "mobilenet_v2", {**DEMO_FT, "image_size": 512, "crop_pct": 1.0, "epochs": 30,
                                                   "patience": 10}),
    "binary-lite0-300-30ep": ("binary", "efficientnet_lite0", {**DEMO_FT, **NATIVE, "epochs": 30, "patience": 10}),
    "4level-demo": ("4level", "mobilenet_v2", DEMO_FT),
    "4level-300-30ep": ("4level", "mobilenet_v2", {**DEMO_FT, **NATIVE, "epochs": 30, "patience": 10}),
    "4level-384-30ep": ("4level", "mobilenet_v2", {**DEMO_FT, "image_size": 384, "crop_pct": 1.0, "epochs": 30,
                                                   "patience": 10}),
    "4level-448-30ep": ("4level", "mobilenet_v2", {**DEMO_FT, "image_size": 448, "crop_pct": 1.0, "epochs": 30,
                                                   "patience": 10}),
    "4level-lite0-300-30ep": ("4level", "efficientnet_lite0", {**DEMO_FT, **NATIVE, "epochs": 30, "patience": 10}),
}


def run_one(name: str, seed: int, data_root: Path, workers: int | None = None) -> dict:
    from graft import datasets
    from graft.tasks.image_classification import ImageClassifier

    variant, backbone, options = RECIPES[name]
    data = datasets.elpv(data_root, variant)
    options = dict(options)
    strategy = options.pop("strategy")
    clf = ImageClassifier(backbone, strategy, seed=seed, num_workers=workers, **options)
    start = time.perf_counter()
    clf.fit(data / "train")
    fit_seconds = time.perf_counter() - start
    test = clf.evaluate(data / "test")
    best_val = max((row.get("val_accuracy", 0.0) for row in clf.history), default=None)
    return {"recipe": name, "seed": seed, "variant": variant, "backbone": backbone, "options": RECIPES[name][2],
            "test_accuracy": test["accuracy"], "test_balanced_accuracy": test["balanced_accuracy"],
            "test_macro_f1": test["macro_f1"], "best_val_accuracy": best_val, "fit_seconds": round(fit_seconds, 1),
            "epochs_run": sum(1 for row in clf.history if row["phase"] == strategy), "device": _device_name()}


def _device_name() -> str:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.elpv_recipes", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", default=",".join(RECIPES))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--data-root", type=Path, default=None, help="where the elpv folders are written")
    parser.add_argument("--workers", type=int, default=None, help="data-loading processes per recipe")
    parser.add_argument("--one", nargs=2, metavar=("NAME", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data_root = args.data_root or args.out / "data"
    if args.one:
        result = run_one(args.one[0], int(args.one[1]), data_root, args.workers)
        with open(args.out / "recipes.jsonl", "a") as f:
            f.write(json.dumps(result) + "\n")
        return 0
    from graft import datasets

    for variant in {RECIPES[name][0] for name in args.only.split(",")}:
        datasets.elpv(data_root, variant)  # built once, before the workers read it
    (args.out / "logs").mkdir(parents=True, exist_ok=True)
    jobs = [(name, int(seed)) for seed in args.seeds.split(",") for name in args.only.split(",")]
    running: list[tuple[subprocess.Popen, str]] = []  # each child writes its own log file
    while jobs or running:
        while jobs and len(running) < args.parallel:
            name, seed = jobs.pop(0)
            cmd = [sys.executable, "-m", "benchmarks.elpv_recipes", "--out", str(args.out), "--data-root",
                   str(data_root), "--one", name, str(seed)] + (["--workers", str(args.workers)] if args.workers is not None else [])
            with open(args.out / "logs" / f"{name}-s{seed}.log", "w") as log:  # the child keeps its own handle
                running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ), name))
        time.sleep(1)
        for proc, name in list(running):
            if proc.poll() is not None:
                running.remove((proc, name))
                print(f"{name}: exit {proc.returncode}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
