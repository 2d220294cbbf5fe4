"""The TF-IDF baseline beside text fits: a real score on real reviews, recorded in metrics.json."""
from __future__ import annotations

import csv
import json


def _rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        return [(r["text"], r["label"]) for r in csv.DictReader(f)]


def test_tfidf_baseline_beats_chance_on_real_reviews(rotten_slice):
    from graft.baselines import tfidf_baseline

    train, test = _rows(rotten_slice / "train.csv"), _rows(rotten_slice / "test.csv")
    classes = sorted({label for _, label in train})
    ids = {c: i for i, c in enumerate(classes)}
    report = tfidf_baseline([t for t, _ in train], [ids[label] for _, label in train],
                            [t for t, _ in test], [ids[label] for _, label in test], classes)
    assert 0.55 < report["val_accuracy"] <= 1.0  # 160 training snippets: well above chance (0.5), far from perfect
    assert "C=" in report["model"] and "3-fold" in report["model"]


def test_text_fit_records_the_baseline(rotten_slice, tmp_path):
    from graft import TextClassifier

    model = TextClassifier("minilm-l6", "feature-extraction", epochs=3, seed=0).fit(rotten_slice / "train.csv")
    saved = json.loads((model.save(tmp_path / "m") / "metrics.json").read_text())
    assert saved["baseline"]["val_accuracy"] > 0 and "TF-IDF" in saved["baseline"]["model"]
    off = TextClassifier("minilm-l6", "feature-extraction", epochs=1, tfidf_baseline=False).fit(rotten_slice / "train.csv")
    assert "baseline" not in off.run_report
