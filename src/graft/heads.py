"""New task heads put on top of a backbone's features."""
from __future__ import annotations

import torch
from torch import nn


def classification_head(in_dim: int, num_classes: int, hidden: tuple[int, ...] = (), dropout: float = 0.0) -> nn.Sequential:
    """``linear`` when ``hidden`` is empty; else an MLP (``hidden=(64,)`` is the seed's Dense(64, relu) head)."""
    layers: list[nn.Module] = []
    width = in_dim
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(inplace=True)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = size
    if dropout and not hidden:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


class BackboneWithHead(nn.Module):
    """The full model a task trains and saves: features from the backbone, then the head."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, **inputs):
        return self.head(self.backbone(**inputs))


class HeadOnFeatures(nn.Module):
    """The head alone, trained on cached features (batch key ``features``)."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, features):
        return self.head(features)


PROBE_C = tuple(10.0 ** k for k in (-3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2))  # inverse regularisation


def fit_probe(head: nn.Sequential, x_train: torch.Tensor, y_train: list[int], x_val: torch.Tensor,
              y_val: list[int], class_weight: str | None = None) -> dict:
    """Set a linear ``head`` to an exact multinomial logistic regression (scikit-learn, L-BFGS) on standardised
    features, its strength C chosen on the validation split: the tuned linear probe, as a torch layer.

    Standardising is folded into the weights (``w / sigma``, ``b - w . mu / sigma``), so the head takes the raw
    features as before. Returns the chosen C and each C's validation accuracy and log-loss.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    linear = head[-1]
    xt, xv = x_train.double().numpy(), x_val.double().numpy()
    mu, sigma = xt.mean(0), xt.std(0) + 1e-6
    zt, zv = (xt - mu) / sigma, (xv - mu) / sigma
    labels = list(range(linear.out_features))
    tried, best = {}, None
    for c in PROBE_C:
        model = LogisticRegression(C=c, max_iter=2000, class_weight=class_weight).fit(zt, y_train)
        proba = _full_proba(model, zv, labels)
        accuracy = float((proba.argmax(1) == np.array(y_val)).mean()) if len(y_val) else 0.0
        loss = float(log_loss(y_val, proba, labels=labels)) if len(y_val) else 0.0
        tried[c] = {"val_accuracy": accuracy, "val_loss": loss}
        if best is None or (accuracy, -loss) > (tried[best[0]]["val_accuracy"], -tried[best[0]]["val_loss"]):
            best = (c, model)
    c, model = best
    _set_linear(linear, model, labels, mu, sigma)
    return {"C": c, "tried": {f"{k:g}": v for k, v in tried.items()}}


def cv_folds(y: list[int], most: int = 5) -> int:
    """How many stratified folds ``y`` allows (0: some class has fewer than two examples)."""
    import numpy as np

    fewest = min(c for c in np.bincount(np.asarray(y)) if c > 0) if len(y) else 0
    return min(most, fewest) if fewest >= 2 else 0


def fit_probe_cv(head: nn.Sequential, x: torch.Tensor, y: list[int], class_weight: str | None = None,
                 folds: int = 5, seed: int = 0) -> dict:
    """The tuned linear probe for small data: C chosen by stratified ``folds``-fold cross-validation over every
    labelled example, then refitted on all of them, so none is held out of the final head (at 50 images per class,
    a fifth held out for validation is ten per class the head never sees). Returns the chosen C, each C's
    cross-validated accuracy and log-loss, and the out-of-fold predictions at the chosen C: every example
    predicted by a head that did not train on it, which is what validation metrics are computed from."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    linear = head[-1]
    labels = list(range(linear.out_features))
    xa, ya = x.double().numpy(), np.asarray(y)
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(xa, ya))
    tried, out_of_fold = {}, {}
    for c in PROBE_C:
        proba = np.zeros((len(ya), len(labels)))
        for train, held in splits:
            mu, sigma = xa[train].mean(0), xa[train].std(0) + 1e-6
            model = LogisticRegression(C=c, max_iter=2000, class_weight=class_weight)
            model.fit((xa[train] - mu) / sigma, ya[train])
            proba[held] = _full_proba(model, (xa[held] - mu) / sigma, labels)
        out_of_fold[c] = proba
        tried[c] = {"val_accuracy": float((proba.argmax(1) == ya).mean()),
                    "val_loss": float(log_loss(ya, proba, labels=labels))}
    c = max(PROBE_C, key=lambda k: (tried[k]["val_accuracy"], -tried[k]["val_loss"]))
    mu, sigma = xa.mean(0), xa.std(0) + 1e-6
    model = LogisticRegression(C=c, max_iter=2000, class_weight=class_weight).fit((xa - mu) / sigma, ya)
    _set_linear(linear, model, labels, mu, sigma)
    return {"C": c, "tried": {f"{k:g}": v for k, v in tried.items()}, "folds": folds,
            "out_of_fold": out_of_fold[c].argmax(1).tolist()}


def _set_linear(linear: nn.Linear, model, labels: list[int], mu, sigma) -> None:
    """The logistic regression ``model`` (fitted on ``(x - mu) / sigma``) as a torch layer on the raw features."""
    weight, bias = _full_coef(model, labels, len(mu))
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight / sigma).float())
        linear.bias.copy_(torch.from_numpy(bias - (weight * mu / sigma).sum(1)).float())


def _full_proba(model, x, labels: list[int]):
    """Probabilities over every class, also those absent from the training rows."""
    import numpy as np

    proba = np.full((len(x), len(labels)), 1e-12)
    proba[:, model.classes_] = model.predict_proba(x)
    return proba / proba.sum(1, keepdims=True)


def _full_coef(model, labels: list[int], dim: int):
    """(weight [classes, dim], bias [classes]) with a very low bias for classes the training rows lack; binary
    models' single row becomes the two rows a softmax over two classes needs."""
    import numpy as np

    weight, bias = np.zeros((len(labels), dim)), np.full(len(labels), -30.0)
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2 and coef.shape[0] == 1:  # sklearn's binary form: p(1) = sigmoid(w.x + b)
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    weight[model.classes_], bias[model.classes_] = coef, intercept
    return weight, bias
