"""Fine-tuning recipes on elpv, each one full fit plus a test evaluation through the public API.

``python -m benchmarks.elpv_recipes --out DIR [--only NAME,...] [--parallel N] [--seeds 0,1]``

Each recipe runs in its own process through ``benchmarks.common.run_worker`` (``--parallel`` at a time; on a
GPU several share it) and appends one JSON line to ``DIR/recipes.jsonl`` when it ends, so a run cut short keeps
what finished. The processes' output goes to ``DIR/recipes.log``.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from benchmarks import common

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


def run_one(name: str, seed: int, data_root: str, workers: int | None = None) -> dict:
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
    args = parser.parse_args(argv)
    from graft import datasets

    data_root = (args.data_root or args.out / "data").absolute()
    names = args.only.split(",")
    for variant in {RECIPES[name][0] for name in names}:
        datasets.elpv(data_root, variant)  # built once, before the workers read it
    args.out.mkdir(parents=True, exist_ok=True)
    common.LOG = args.out / "recipes.log"
    threads = max(1, (os.cpu_count() or 1) // args.parallel)

    def one(job: tuple[str, int]) -> dict:
        kwargs = {"name": job[0], "seed": job[1], "data_root": str(data_root), "workers": args.workers}
        return {"recipe": job[0], "seed": job[1], **common.run_worker("elpv_recipes.run_one", kwargs, fast=True,
                                                                      threads=threads, timeout=24 * 3600)}

    jobs = [(name, int(seed)) for seed in args.seeds.split(",") for name in names]
    with ThreadPoolExecutor(args.parallel) as pool:
        for done in as_completed([pool.submit(one, job) for job in jobs]):
            result = done.result()
            with open(args.out / "recipes.jsonl", "a") as f:
                f.write(json.dumps(result) + "\n")
            print(f"{result['recipe']} seed {result['seed']}: "
                  f"{result.get('test_accuracy', result.get('error'))}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
