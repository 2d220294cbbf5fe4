"""Accuracy vs labelled examples per class: from scratch, feature extraction and fine-tuning.

Training sets are seeded random draws of n per class from the train split (a new draw per seed); the test
set is fixed. "Scratch" is the same architecture and recipe as fine-tuning with random weights (every layer
and BatchNorm trained, one learning rate), so the gap measures what the pretrained weights are worth.
"""
from __future__ import annotations

import csv
import math
import random
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import elpv_full, image_files, minilm_dir, run_worker, subset_folder

ANCHORS = {"Deitsch et al. 2019, CNN (full elpv, their split)": 88.42,
           "Deitsch et al. 2019, SVM (full elpv, their split)": 82.44}
METHODS = ("scratch", "feature-extraction", "fine-tune")
MIN_STEPS = 100  # every trained contestant gets at least this many optimizer steps, however small its data


def epochs_for(per_class: int | None, classes: int, floor: int, batch: int = 32, val_fraction: float = 0.2,
               min_steps: int = MIN_STEPS) -> int:
    """Epochs giving at least ``min_steps`` optimizer steps on ``per_class`` x ``classes`` examples (80 % of them
    train), never fewer than ``floor``: at 50 per class a fixed 5 epochs is 15 steps, which measures the step
    count, not what pretrained weights are worth."""
    if per_class is None:
        return floor
    steps_per_epoch = math.ceil(round(per_class * classes * (1 - val_fraction)) / batch)
    return max(floor, math.ceil(min_steps / max(steps_per_epoch, 1)))


def fit_eval(task: str, jobs: list[dict], test: str, threads: int, tokenizer: str | None = None) -> dict:
    """Worker: every (method, train folder/CSV, seed) job in ``jobs``, each scored on ``test``."""
    from graft import ImageClassifier, TextClassifier
    from graft.runtime import configure

    configure(fast=True, threads=threads)
    out = []
    for job in jobs:
        options = dict(seed=job["seed"], batch_size=32, epochs=job["epochs"] if job["method"] != "feature-extraction"
                       else None)
        if task == "image":
            options["image_size"] = job["image_size"]
            if "crop_pct" in job:  # centre crop at evaluation (1.0: the whole image)
                options["crop_pct"] = job["crop_pct"]
        if job["method"] == "scratch":
            options.update(weights=None, unfreeze="all", train_bn=True, lr=1e-3 if task == "image" else 1e-4,
                           lr_decay=1.0)
            if task == "text":
                options["tokenizer"] = tokenizer
        elif job["method"] == "fine-tune":
            options["unfreeze"] = "all"
        strategy = "feature-extraction" if job["method"] == "feature-extraction" else "fine-tune"
        start = time.perf_counter()
        try:
            if task == "image":
                clf = ImageClassifier("mobilenet_v2", strategy, **options)
            else:
                clf = TextClassifier("minilm-l6", strategy, **options)
            clf.fit(job["train"])
            report = clf.evaluate(test)
            out.append({**job, "accuracy": report["accuracy"], "balanced_accuracy": report.get("balanced_accuracy"),
                        "seconds": time.perf_counter() - start})
        except Exception as exc:  # noqa: BLE001 - one failed run is one missing cell
            out.append({**job, "error": f"{type(exc).__name__}: {exc}"[:300]})
    return {"result": out}


def _summarise(runs: list[dict]) -> dict:
    table: dict = {}
    for r in runs:
        if "accuracy" in r:
            table.setdefault(str(r["per_class"]), {}).setdefault(r["method"], []).append(100 * r["accuracy"])
    return {n: {m: {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "runs": len(v)}
                for m, v in methods.items()} for n, methods in table.items()}


def _text_subset(src: Path, dst: Path, per_class: int | None, seed: int) -> Path:
    with open(src, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rng = random.Random(seed)
    chosen = []
    for label in sorted({r["label"] for r in rows}):
        members = [r for r in rows if r["label"] == label]
        chosen += members if per_class is None or per_class >= len(members) else rng.sample(members, per_class)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows({"text": r["text"], "label": r["label"]} for r in chosen)
    return dst


def run(quick: bool, threads: int, seed: int, workdir: Path, text: bool | None = None) -> dict:
    seeds = [seed] if quick else [seed, seed + 1, seed + 2]
    sizes = [10, 50] if quick else [10, 50, 200, None]
    image_size, epochs = (160, 3) if quick else (224, 5)
    # fine-tuning all ~1,600 training cells takes about an hour per run on a 2-core CPU: feature extraction only
    trained_sizes = sizes if quick else [10, 50, 200]
    full = elpv_full(workdir / "data")
    test = subset_folder(image_files(full / "test"), workdir / "acc-test", 25 if quick else None, seed)
    cache = tempfile.mkdtemp(prefix="graft-bench-acc-cache-", dir=workdir)
    runs = []
    for n in sizes:
        jobs = []
        for s in seeds:
            train = subset_folder(image_files(full / "train"), workdir / f"acc-train-{n}-{s}", n, s)
            for method in METHODS:
                if method != "feature-extraction" and n not in trained_sizes:
                    continue
                # 200 per class: one seed for the two full-training methods (time)
                if method != "feature-extraction" and n == 200 and s != seed:
                    continue
                jobs.append({"method": method, "per_class": n or "all", "seed": s, "train": str(train),
                             "epochs": epochs_for(n, 2, epochs), "image_size": image_size})
        result = run_worker("accuracy.fit_eval", {"task": "image", "jobs": jobs, "test": str(test), "threads": threads},
                            True, threads, env_extra={"GRAFT_FEATURE_CACHE": cache})
        runs += result.get("result", []) if "error" not in result else [{**j, "error": result["error"]} for j in jobs]
    out = {"elpv": {"runs": runs, "summary": _summarise(runs), "anchors": ANCHORS,
                    "settings": {"seeds": seeds, "image_size": image_size, "fine_tune_epochs": {
                        str(n or "all"): epochs_for(n, 2, epochs) for n in trained_sizes}, "min_steps": MIN_STEPS,
                                 "head_epochs": 10, "feature_extraction_epochs": 30,
                                 "test_images": sum(len(v) for v in image_files(test).values()),
                                 "scratch": "weights=None, fine-tune unfreeze=all, train_bn, lr 1e-3, no lr decay"}}}
    if text if text is not None else not quick:
        out["rotten_tomatoes"] = _run_text(seeds, [10, 50, 200], threads, seed, workdir)
    return out


def _run_text(seeds, sizes, threads, seed, workdir: Path, test_per_class: int = 500) -> dict:
    from graft.datasets import rotten_tomatoes

    data = rotten_tomatoes(workdir / "data")
    test = _text_subset(data / "test.csv", workdir / "rt" / "test.csv", test_per_class, seed)
    cache = tempfile.mkdtemp(prefix="graft-bench-rt-cache-", dir=workdir)
    jobs = [{"method": m, "per_class": n, "seed": s, "epochs": epochs_for(n, 2, 3),
             "train": str(_text_subset(data / "train.csv", workdir / "rt" / f"train-{n}-{s}.csv", n, s))}
            for n in sizes for s in seeds for m in METHODS]
    result = run_worker("accuracy.fit_eval", {"task": "text", "jobs": jobs, "test": str(test), "threads": threads,
                                              "tokenizer": minilm_dir()}, True, threads,
                        env_extra={"GRAFT_FEATURE_CACHE": cache})
    runs = result.get("result", []) if "error" not in result else [{**j, "error": result["error"]} for j in jobs]
    return {"runs": runs, "summary": _summarise(runs),
            "settings": {"seeds": seeds, "test_sentences": 2 * test_per_class, "min_steps": MIN_STEPS,
                         "fine_tune_epochs": {str(n): epochs_for(n, 2, 3) for n in sizes},
                         "feature_extraction_epochs": 60}}
