"""Feature extraction's head against a tuned logistic-regression probe on the same frozen features.

For elpv (MobileNetV2) and Rotten Tomatoes (MiniLM-L6): graft's default feature extraction (a linear head
trained by SGD), graft with ``probe=True`` (an exact logistic regression, C chosen on graft's validation split),
and scikit-learn's ``LogisticRegressionCV`` (5-fold CV over the same C grid) fitted on standardised features of
exactly the rows graft trained on; test accuracy and balanced accuracy of each.

``python -m benchmarks.probe [--threads T]`` prints the rows as JSON.
"""
from __future__ import annotations

import time
from pathlib import Path


def compare(dataset: str, root: str, threads: int, seed: int = 0) -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import graft
    from benchmarks.common import set_threads
    from graft.heads import PROBE_C

    set_threads(threads)
    root = Path(root)
    task, backbone, train, test = (("ImageClassifier", "mobilenet_v2", root / "train", root / "test")
                                   if dataset == "elpv" else
                                   ("TextClassifier", "minilm-l6", root / "train.csv", root / "test.csv"))
    options = {"pool_layers": 1} if dataset != "elpv" else {}  # the same features for every contestant
    rows = {}
    for name, probe in (("graft_probe_head", True), ("graft_default", False)):
        start = time.perf_counter()
        model = getattr(graft, task)(backbone, "feature-extraction", seed=seed, probe=probe, **options).fit(train)
        report = model.evaluate(test)
        rows[name] = {"test_accuracy": report["accuracy"], "test_balanced_accuracy": report["balanced_accuracy"],
                      "fit_s": round(time.perf_counter() - start, 1)}
        if probe:
            reference = model
    data = reference.read_labelled(train)
    split = reference.run_report["split"]
    from graft.data.split import stratified_split

    train_idx, _ = stratified_split(data.labels, split["val_fraction"], split["seed"])
    inputs = [data.inputs[i] for i in train_idx]
    y = reference._ids([data.labels[i] for i in train_idx])
    test_data = reference.read_labelled(test)
    x_train, x_test = reference.features(inputs).numpy(), reference.features(list(test_data.inputs)).numpy()
    y_test = reference._ids(test_data.labels)
    start = time.perf_counter()
    probe = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=list(PROBE_C), cv=5, max_iter=2000))
    predicted = probe.fit(x_train, y).predict(x_test)
    rows["sklearn_probe_cv"] = {"test_accuracy": float(np.mean(predicted == np.array(y_test))),
                                "test_balanced_accuracy": float(balanced_accuracy_score(y_test, predicted)),
                                "fit_s": round(time.perf_counter() - start, 1),
                                "C": float(probe[-1].C_[0])}
    gap = 100 * (rows["graft_default"]["test_accuracy"] - rows["sklearn_probe_cv"]["test_accuracy"])
    return {"dataset": dataset, "backbone": backbone, "train_rows": len(inputs), "test_rows": len(y_test),
            "rows": rows, "graft_minus_probe_points": round(gap, 2)}


def run(quick: bool, threads: int, seed: int, workdir: Path) -> dict:
    from benchmarks.common import run_worker
    from graft import datasets

    elpv = datasets.elpv(workdir / "data", "binary", limit_per_class=100 if quick else None)
    rotten = datasets.rotten_tomatoes(workdir / "data", limit_per_class=300 if quick else None)
    return {"comparisons": [run_worker("probe.compare", {"dataset": name, "root": str(root), "threads": threads,
                                                         "seed": seed}, True, threads, timeout=3600)
                            for name, root in (("elpv", elpv), ("rotten-tomatoes", rotten))]}


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m benchmarks.probe", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        print(json.dumps(run(args.quick, args.threads, 0, Path(work)), indent=1))


if __name__ == "__main__":
    main()
