"""Backbones: the registry (`zoo`), offline-first weights, and builders for images and text."""
from __future__ import annotations

from pathlib import Path

from graft.backbones.base import Backbone, LayerGroup
from graft.backbones.registry import BackboneCfg, get_cfg, list_backbones
from graft.backbones.weights import WeightsNotFound, resolve

__all__ = ["Backbone", "BackboneCfg", "LayerGroup", "WeightsNotFound", "create_backbone", "get_cfg",
           "list_backbones", "resolve"]


def create_backbone(name: str, weights: str | Path | None = "pretrained", **options) -> Backbone:
    """Build ``name`` with pretrained weights (resolved offline-first), a given path, or ``None`` (random).

    ``options`` go to the family's builder: ``pooling``, ``image_size`` / ``max_length``, ...
    """
    cfg = get_cfg(name)
    if cfg.family == "detector":
        from graft.errors import GraftError

        raise GraftError(f"'{name}' is a whole detector, not a backbone: use it with --task detection "
                         "(graft.ObjectDetector)")
    if weights is None:
        resolved = None
    else:
        resolved = resolve(cfg, None if weights == "pretrained" else weights)
    if cfg.family == "image":
        from graft.backbones.image import build_image_backbone

        return build_image_backbone(cfg, resolved, **options)
    from graft.backbones.text import build_text_backbone
    from graft.backbones.weights import transformers_folder

    return build_text_backbone(cfg, resolved and transformers_folder(cfg, resolved), **options)
