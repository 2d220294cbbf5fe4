"""New task heads put on top of a backbone's features."""
from __future__ import annotations

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
