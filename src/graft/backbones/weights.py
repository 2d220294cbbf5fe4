"""Offline-first weight resolution: explicit path -> graft's cache -> installed package -> hub.

With no network (``GRAFT_OFFLINE=1``, ``HF_HUB_OFFLINE=1`` or an unreachable hub) the hub step is
skipped after at most a few seconds and ``WeightsNotFound`` names every place that was looked at.
Files are read with safetensors or ``torch.load(weights_only=True)``: loading never runs code.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from graft.backbones.registry import AssetFile, BackboneCfg, HubModel, PackageFile, UrlFile
from graft.errors import WeightsNotFound

HUB_HOST = "huggingface.co"
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a backbone's weights were found: a file (images) or a model directory (text)."""

    location: Path
    source: str  # human description: "explicit", "cache", "package ...", "hf://..."
    sha256: str


def graft_home() -> Path:
    return Path(os.environ.get("GRAFT_HOME", Path.home() / ".cache" / "graft"))


def cache_location(cfg: BackboneCfg) -> Path:
    safe = cfg.name.replace("/", "--")
    base = graft_home() / "weights"
    if cfg.family in ("text", "lm"):  # a transformers model folder
        return base / safe
    if cfg.family == "detector":  # a converted detector: its own folder
        return base / safe / f"{safe}.safetensors"
    return base / f"{safe}.safetensors"


def network_allowed() -> bool:
    if os.environ.get("GRAFT_OFFLINE", "0") not in ("", "0") or os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0"):
        return False
    return _hub_reachable()


@functools.lru_cache(maxsize=1)
def _hub_reachable(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.suffix in WEIGHT_SUFFIXES) if path.is_dir() else [path]
    for file in files:
        with open(file, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file or a plain state-dict .pth (never unpickles code)."""
    if path.suffix == ".safetensors":
        return load_file(path)
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "model_state_dict"):  # common checkpoint wrappers
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    return obj


def package_location(src: PackageFile) -> Path | None:
    spec = importlib.util.find_spec(src.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / src.path
    return path if path.exists() else None


def local_location(src) -> Path | None:
    """Where a packaged source (an installed Python package or a graft asset) has its file, if here."""
    if isinstance(src, PackageFile):
        return package_location(src)
    if isinstance(src, AssetFile):
        from graft import assets

        return assets.find(src.asset, src.path)
    return None


def _how_to(src) -> str:
    if isinstance(src, AssetFile):
        from graft import assets

        return ": " + assets.how_to(src.asset)
    return ""


def resolve(cfg: BackboneCfg, explicit: str | Path | None = None) -> ResolvedWeights:
    """Find ``cfg``'s weights, in order; raises ``WeightsNotFound`` with one clear line."""
    looked: list[str] = []
    if explicit is not None:
        path = Path(explicit).expanduser()
        if path.exists():
            return ResolvedWeights(path, f"explicit {path}", file_sha256(path))
        looked.append(f"{path} (given, does not exist)")
    cached = cache_location(cfg)
    if cached.exists():
        return ResolvedWeights(cached, "cache", file_sha256(cached))
    looked.append(f"cache {cached}")
    for src in cfg.sources:
        if isinstance(src, (PackageFile, AssetFile)):
            found = local_location(src)
            if found is not None:
                return ResolvedWeights(found, src.describe(), file_sha256(found))
            looked.append(f"{src.describe()} (not installed{_how_to(src)})")
    hub = [s for s in cfg.sources if not isinstance(s, (PackageFile, AssetFile))]
    if hub and network_allowed():
        errors = []
        for src in hub:
            try:
                return _download(cfg, src)
            except Exception as exc:  # noqa: BLE001 - every hub failure becomes part of one message
                errors.append(f"{src.describe()} ({type(exc).__name__})")
        looked.extend(errors)
    elif hub:
        looked.append(f"hub {', '.join(s.describe() for s in hub)} (offline)")
    raise WeightsNotFound(
        f"no pretrained weights for backbone '{cfg.name}'; looked in: {'; '.join(looked)}. "
        f"Pass --weights PATH (a .safetensors/.pth file{' or model folder' if cfg.family == 'text' else ''}), "
        f"put them at {cached}, or allow network access (unset GRAFT_OFFLINE/HF_HUB_OFFLINE)"
    )


def _download(cfg: BackboneCfg, src: UrlFile | HubModel) -> ResolvedWeights:
    """Fetch from the hub into graft's cache (images: one safetensors file in timm's key space)."""
    target = cache_location(cfg)
    target.parent.mkdir(parents=True, exist_ok=True)
    if cfg.family in ("text", "lm"):
        from huggingface_hub import snapshot_download

        local = Path(snapshot_download(src.repo_id, allow_patterns=[
            "*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "merges.txt", "vocab.*"]))
        return ResolvedWeights(local, src.describe(), file_sha256(local))
    if isinstance(src, UrlFile):
        state = torch.hub.load_state_dict_from_url(src.url, map_location="cpu", weights_only=True)
    else:
        import timm

        state = timm.create_model(src.repo_id.removeprefix("timm/"), pretrained=True).state_dict()
    tmp = target.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in state.items()}, tmp)
    os.replace(tmp, target)
    return ResolvedWeights(target, src.describe(), file_sha256(target))
