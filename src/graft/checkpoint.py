"""Training checkpoints for `graft fit --resume`: safetensors + JSON, written atomically.

One checkpoint per training phase, rewritten after every epoch. The JSON file is written last and names
the tensor file it belongs to, so an interrupted write leaves the previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def _atomic_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def _flat_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors = {f"opt.{index}.{key}": value for index, slots in state["state"].items()
               for key, value in slots.items() if torch.is_tensor(value)}
    return tensors, {"param_groups": state["param_groups"]}


def _unflat_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save(directory: Path, phase: str, *, epoch: int, model: torch.nn.Module, best_state: dict | None,
         optimizer, scheduler, history: list[dict], best, stale: int, done: bool = False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    from graft.training import changing_state

    tensors = {f"model.{k}": v for k, v in changing_state(model).items()}  # frozen weights are rebuilt on resume
    if best_state is not None:
        tensors.update({f"best.{k}": v for k, v in best_state.items()})
    opt_tensors, opt_meta = _flat_optimizer(optimizer)
    tensors.update(opt_tensors)
    name = f"{phase}-epoch{epoch}.safetensors"
    tmp = directory / f".{name}.tmp"
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, tmp)
    os.replace(tmp, directory / name)
    meta_path = directory / f"{phase}.json"
    previous = json.loads(meta_path.read_text())["tensors"] if meta_path.exists() else None
    _atomic_json(meta_path, {"tensors": name, "epoch": epoch, "done": done, "history": history,
                             "best": list(best) if best is not None else None, "stale": stale,
                             "optimizer": opt_meta, "scheduler": scheduler.state_dict()})
    if previous and previous != name:
        (directory / previous).unlink(missing_ok=True)


def load(directory: Path | None, phase: str) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """(meta, tensors) of ``phase``'s last completed epoch, or None when there is none."""
    if directory is None or not (directory / f"{phase}.json").exists():
        return None
    meta = json.loads((directory / f"{phase}.json").read_text())
    return meta, load_file(directory / meta["tensors"])


def restore(meta: dict, tensors: dict[str, torch.Tensor], model, optimizer, scheduler) -> dict | None:
    """Put model, optimizer and scheduler back as they were; returns the best weights so far."""
    from graft.training import load_changing_state

    load_changing_state(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    optimizer.load_state_dict(_unflat_optimizer(tensors, meta["optimizer"]))
    scheduler.load_state_dict(meta["scheduler"])
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    return best or None
