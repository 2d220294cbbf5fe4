"""The README's main job: elpv solar-cell defect detection with MobileNetV2, by feature extraction and
then by fine-tuning, each scored on the held-out 25 % beside the published results."""
from __future__ import annotations

import json
import time
from pathlib import Path

from graft import datasets
from graft.progress import log
from graft.tasks.image_classification import ImageClassifier

PUBLISHED_ELPV = {"Deitsch et al. 2019, VGG19 fine-tuned (GPU)": 0.8842, "Deitsch et al. 2019, SVM": 0.8244}


def run_demo(root: Path, out: Path, quick: bool = False) -> dict:
    data = datasets.elpv(root, "binary", limit_per_class=40 if quick else None)
    log(f"elpv binary: {data} (train/ and test/ as class folders, seeded stratified 75/25 split)")
    runs = {
        "feature-extraction": ImageClassifier("mobilenet_v2", "feature-extraction", epochs=5 if quick else 60,
                                              patience=10),
        # electroluminescence cells are far from ImageNet: BatchNorm statistics adapt, crops stay large
        # (a small crop can cut the crack away), and cells look the same flipped either way
        "fine-tune": ImageClassifier("mobilenet_v2", "fine-tune", epochs=1 if quick else 12,
                                     head_epochs=2 if quick else 10, lr=5e-4, lr_decay=0.75, label_smoothing=0.0,
                                     min_scale=0.75, vflip=True, train_bn=True),
    }
    results = {}
    for name, clf in runs.items():
        start = time.perf_counter()
        clf.fit(data / "train")
        test = clf.evaluate(data / "test")
        clf.save(out / name)
        log(f"{name}: test accuracy {test['accuracy']:.2%} on {test['n']} held-out cells")
        results[name] = {"test_accuracy": test["accuracy"], "test_macro_f1": test["macro_f1"],
                         "fit_seconds": round(time.perf_counter() - start, 1), "model": str(out / name)}
    print(_table(results))
    (out / "results.json").write_text(json.dumps({"quick": quick, "runs": results,
                                                  "published": PUBLISHED_ELPV}, indent=2))
    return results


def _table(results: dict) -> str:
    rows = [(f"graft mobilenet_v2, {name} (CPU, fit {r['fit_seconds']:.0f} s)", r["test_accuracy"])
            for name, r in results.items()]
    rows += list(PUBLISHED_ELPV.items())
    width = max(len(name) for name, _ in rows)
    lines = ["", "elpv binary (defective vs functional), held-out test cells", f"{'method':<{width}}  test accuracy"]
    lines += [f"{name:<{width}}  {acc:>12.2%}" for name, acc in rows]
    return "\n".join(lines)
