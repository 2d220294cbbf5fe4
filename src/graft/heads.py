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
    weight, bias = _full_coef(model, labels, xt.shape[1])
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight / sigma).float())
        linear.bias.copy_(torch.from_numpy(bias - (weight * mu / sigma).sum(1)).float())
    return {"C": c, "tried": {f"{k:g}": v for k, v in tried.items()}}


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
