"""Adapting a face embedder to one's own people: a margin loss on pair distances, and what trains.

The loss keeps the published "same person" threshold meaningful (same-person pairs pushed below
``threshold - margin``, others above ``threshold + margin``), so a gallery's threshold rule works unchanged after
adaptation.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from graft import training


class PairMargin(training.Objective):
    """Distances of same-person pairs pushed below ``threshold - margin``, of other pairs above
    ``threshold + margin`` (squared hinge): the published "same person" threshold keeps its meaning.

    Validation uses every pair with at least one validation photo (the others are the training photos).
    """

    monitor, mode = "val_loss", "min"

    def __init__(self, threshold: float, margin: float):
        self.threshold, self.margin = threshold, margin

    def pair_loss(self, emb: torch.Tensor, labels: torch.Tensor, counted: torch.Tensor | None = None):
        d = torch.cdist(emb.float(), emb.float())
        same = labels[:, None] == labels[None, :]
        upper = torch.triu(torch.ones_like(same), diagonal=1)
        if counted is not None:
            upper = upper & (counted[:, None] | counted[None, :])
        genuine, impostor = upper & same, upper & ~same
        loss = emb.new_zeros(())
        if genuine.any():
            loss = loss + torch.relu(d[genuine] - (self.threshold - self.margin)).pow(2).mean()
        if impostor.any():
            loss = loss + torch.relu((self.threshold + self.margin) - d[impostor]).pow(2).mean()
        return loss

    def loss(self, model, batch):
        x, labels = batch[0], batch[1]
        return self.pair_loss(model(x), labels), len(labels)

    @torch.no_grad()
    def validate(self, model, loader, acc) -> dict[str, float]:
        model.eval()
        emb, labels, is_val = [], [], []
        for x, y, v in loader:
            emb.append(model(x).float())
            labels.append(y)
            is_val.append(v)
        emb, labels, is_val = torch.cat(emb), torch.cat(labels), torch.cat(is_val)
        return {"val_loss": float(self.pair_loss(emb, labels, is_val))}

    def describe(self, row: dict) -> str:
        return f"val pair loss {row['val_loss']:.4f}"


class Adapted(nn.Module):
    """What trains: the embedder (fine-tune) or a linear map on its frozen descriptors (feature-extraction)."""

    def __init__(self, embedder=None, head: nn.Module | None = None):
        super().__init__()
        self.embedder_module = embedder.module if embedder is not None else None
        self._embedder = embedder
        self.head = head

    def forward(self, x):
        if self.embedder_module is not None:
            x = self._embedder.forward(x)
        return self.head(x) if self.head is not None else x


def identity_head(dim: int) -> nn.Linear:
    head = nn.Linear(dim, dim, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.eye(dim))
    return head


def mirrored(chips: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(chips[:, :, ::-1])


def layer_groups(module: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """Bottom-to-top groups of an embedder: its own ``layer_groups()``, else its top-level children."""
    if hasattr(module, "layer_groups"):
        return module.layer_groups()
    return [(name, [child]) for name, child in module.named_children() if any(True for _ in child.parameters())]
