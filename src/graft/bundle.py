"""A saved model is a directory of safetensors + JSON (+ CSV/PNG reports): nothing in it can run code.

``config.json`` records the task, the task's own configuration (classes, preprocessing as trained, ...),
the bundle format version (checked on load) and the sha256 of ``model.safetensors``; a changed byte makes
loading refuse.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

from typing import TYPE_CHECKING

from graft.errors import BundleError

if TYPE_CHECKING:
    import torch

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
FORMAT_VERSION = 1


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def write_history(path: Path, history: list[dict]) -> None:
    fields = list(dict.fromkeys(k for row in history for k in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)


def save_weights(directory: Path, state: dict[str, torch.Tensor], config: dict) -> None:
    """Write weights then config (with their hash), each atomically."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{WEIGHTS}.tmp"
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    save_file(_untie(tensors), tmp, metadata={"format": "pt"})
    _readable(tmp)
    os.replace(tmp, directory / WEIGHTS)
    write_json(directory / CONFIG, {**config, "format_version": FORMAT_VERSION,
                                    "weights_sha256": _sha256(directory / WEIGHTS)})


def _readable(path: Path) -> None:
    """Files as the umask allows (safetensors creates 0600): a bundle built by one user serves another."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _untie(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses shared storage (tied embeddings): give each name its own copy."""
    seen: set[int] = set()
    out = {}
    for key, value in tensors.items():
        ptr = value.untyped_storage().data_ptr()
        out[key] = value.clone() if ptr in seen else value
        seen.add(ptr)
    return out


def read_json(path: Path):
    """A JSON file, or a one-line BundleError naming it."""
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc})") from None


def read_config(directory: str | Path) -> dict:
    directory = Path(directory)
    path = directory / CONFIG
    if not path.is_file():
        raise BundleError(f"{directory} is not a graft model: {CONFIG} is missing")
    config = read_json(path)
    version = config.get("format_version") if isinstance(config, dict) else None
    if not isinstance(version, int):
        raise BundleError(f"{path} has no format_version: not a graft model")
    if version > FORMAT_VERSION:
        raise BundleError(f"{directory} was saved in bundle format {version} by a newer graft; this graft reads "
                          f"up to format {FORMAT_VERSION}: upgrade graft to load it")
    return config


def load_weights(directory: str | Path, config: dict) -> dict[str, torch.Tensor]:
    """The bundle's tensors, after checking they are the ones ``config.json`` recorded."""
    path = Path(directory) / WEIGHTS
    if not path.is_file():
        raise BundleError(f"{directory}: {WEIGHTS} is missing")
    if _sha256(path) != config.get("weights_sha256"):
        raise BundleError(f"{path} does not match the sha256 recorded in {CONFIG}: "
                          "the file was changed or damaged; refusing to load it")
    from safetensors.torch import load_file

    return load_file(path)


def load_into(model: torch.nn.Module, directory: str | Path, config: dict) -> None:
    """The bundle's checked weights into ``model`` (every tensor, no more, no fewer), then eval mode."""
    state = load_weights(directory, config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BundleError(f"{directory}: weights do not fit the recorded model ({exc})".splitlines()[0]) from None
    model.eval()
