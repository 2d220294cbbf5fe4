"""What every backbone offers the rest of graft: features from inputs, and ordered layer groups."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from graft.backbones.registry import BackboneCfg


@dataclass(frozen=True)
class LayerGroup:
    """A slice of the backbone that is frozen or unfrozen as a unit (input side first)."""

    name: str
    params: tuple[str, ...]  # parameter names relative to the backbone


class Backbone(nn.Module):
    """A pretrained trunk producing one feature vector per input."""

    cfg: BackboneCfg
    feature_dim: int
    weights_source: str = "random init"
    weights_sha256: str | None = None

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def frozen_encoder(self, items: int | None = None):
        """What to call for features of ``items`` inputs (None: many) while the backbone stays frozen."""
        return self

    def layer_groups(self) -> list[LayerGroup]:  # pragma: no cover - abstract
        raise NotImplementedError

    def spec(self) -> dict:
        """JSON-able description for a saved model's config."""
        raise NotImplementedError


def load_matching(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load ``state`` into ``model`` by name, or by position when the key names differ.

    Extra trailing source tensors (a classifier the backbone dropped) are ignored; any missing or
    mis-shaped tensor is an error, so a wrong file can never load silently.
    """
    target = model.state_dict()
    if all(k in state for k in target):
        mapped = {k: state[k] for k in target}
    else:
        mapped = dict(zip(target, state.values()))
        if len(state) < len(target):
            raise ValueError(f"{what}: {len(state)} tensors, the model needs {len(target)}")
    for key, value in mapped.items():
        if value.shape != target[key].shape:
            raise ValueError(f"{what}: tensor for '{key}' has shape {tuple(value.shape)}, "
                             f"expected {tuple(target[key].shape)}")
    model.load_state_dict(mapped, strict=True)
