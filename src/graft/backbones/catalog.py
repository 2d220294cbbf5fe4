"""The zoo as rows for `graft models`: what each model is, which tasks it suits, its licence, and whether
its weights are here."""
from __future__ import annotations

from graft.backbones.registry import get_cfg, list_backbones
from graft.backbones.weights import cache_location, local_location


def weights_here(name: str) -> str | None:
    """Where this machine has the weights without network: 'cache' or the package, else None."""
    cfg = get_cfg(name)
    if cache_location(cfg).exists():
        return "cache"
    for src in cfg.sources:
        if local_location(src) is not None:
            return src.describe()
    return None


def catalog(family: str | None = None, available_only: bool = False, task: str | None = None) -> list[dict]:
    rows = []
    for name in list_backbones(family):
        cfg = get_cfg(name)
        if task is not None and task not in cfg.tasks:
            continue
        prep = cfg.preprocessing
        size = f"{prep.max_length}tok" if cfg.family in ("text", "lm") else f"{prep.input_size}px"
        row = {"name": name, "family": cfg.family, "params_m": cfg.params_m, "input": size,
               "feature_dim": cfg.feature_dim, "tasks": list(cfg.tasks), "licence": cfg.licence,
               "available": weights_here(name), "description": cfg.description}
        if row["available"] or not available_only:
            rows.append(row)
    return rows
