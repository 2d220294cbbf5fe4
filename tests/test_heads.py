"""The feature-extraction probe: exactly scikit-learn's tuned logistic regression, as a torch linear head."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graft.heads import PROBE_C, classification_head, cv_folds, fit_probe, fit_probe_cv


def _blobs(n: int, classes: int, dim: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2, (classes, dim))
    y = rng.integers(0, classes, n)
    x = centres[y] + rng.normal(0, 3, (n, dim)) + 50  # offset and spread: standardising matters
    return torch.tensor(x, dtype=torch.float32), y.tolist()


@pytest.mark.parametrize("classes", [2, 4])
def test_probe_head_is_the_tuned_logistic_regression(classes):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x_train, y_train = _blobs(300, classes)
    x_val, y_val = _blobs(120, classes, seed=1)
    head = classification_head(12, classes)
    chosen = fit_probe(head, x_train, y_train, x_val, y_val)
    assert chosen["C"] in PROBE_C and len(chosen["tried"]) == len(PROBE_C)
    best = max(chosen["tried"].values(), key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    assert chosen["tried"][f"{chosen['C']:g}"] == best  # the C with the best validation accuracy (then loss)
    scaler = StandardScaler().fit(x_train.double().numpy())
    reference = LogisticRegression(C=chosen["C"], max_iter=2000).fit(scaler.transform(x_train.double().numpy()),
                                                                      y_train)
    expected = reference.predict_proba(scaler.transform(x_val.double().numpy()))
    with torch.no_grad():
        ours = head(x_val).softmax(1).numpy()
    assert np.abs(ours - expected).max() < 1e-3


def test_a_class_missing_from_training_is_never_predicted():
    x_train, y_train = _blobs(200, 2)
    x_val, y_val = _blobs(50, 2, seed=1)
    head = classification_head(12, 3)  # a third class the training rows lack
    fit_probe(head, x_train, y_train, x_val, y_val)
    with torch.no_grad():
        assert (head(x_val).argmax(1) != 2).all()


@pytest.mark.parametrize("classes", [2, 3])
def test_cross_validated_probe_chooses_by_folds_and_fits_on_every_example(classes):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _blobs(150, classes)
    head = classification_head(12, classes)
    chosen = fit_probe_cv(head, x, y, folds=5, seed=0)
    xs = x.double().numpy()
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    accuracy = {}
    for c in PROBE_C:  # scikit-learn's own cross-validation, scaler fitted inside each fold
        pipe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
        accuracy[c] = float((cross_val_predict(pipe, xs, y, cv=folds) == np.array(y)).mean())
        assert chosen["tried"][f"{c:g}"]["val_accuracy"] == pytest.approx(accuracy[c])
    assert accuracy[chosen["C"]] == max(accuracy.values())
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=chosen["C"], max_iter=2000))
    assert chosen["out_of_fold"] == cross_val_predict(pipe, xs, y, cv=folds).tolist()
    reference = pipe.fit(xs, y)  # the final head: every example, none held out
    with torch.no_grad():
        ours = head(x).softmax(1).numpy()
    assert np.abs(ours - reference.predict_proba(xs)).max() < 1e-3


def test_folds_follow_the_smallest_class():
    assert cv_folds([0] * 40 + [1] * 3) == 3
    assert cv_folds([0] * 40 + [1] * 30) == 5
    assert cv_folds([0] * 40 + [1]) == 0  # one example of a class: no stratified folds
