"""Image backbones built with timm (which also hosts torchvision's weights)."""
from __future__ import annotations

import pickle

import timm
import torch
from timm.models import group_parameters
from torch import nn

from graft.backbones.base import Backbone, LayerGroup, load_matching
from graft.backbones.registry import BackboneCfg
from graft.backbones.weights import ResolvedWeights, read_state_dict
from graft.errors import GraftError, WeightsNotFound
from graft.runtime import FrozenTrace, settings

POOLINGS = ("avg", "avgmax", "flatten")  # avgmax: global average and max, concatenated
TRACE_MIN_ITEMS = 256  # building a trace takes 2-3 s: about what it saves over a few hundred images


class ImageBackbone(Backbone):
    def __init__(self, cfg: BackboneCfg, model: nn.Module, pooling: str = "avg", image_size: int | None = None):
        super().__init__()
        self.cfg, self.model = cfg, model
        self.image_size = image_size or cfg.preprocessing.input_size
        self.channels_last = settings().channels_last
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.set_pooling(pooling)

    def forward_maps(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        return self.model.forward_features(pixel_values)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self._pool(self.forward_maps(pixel_values))

    def feature_maps(self, pixel_values: torch.Tensor, levels: tuple[int, ...]) -> list[torch.Tensor]:
        """Multi-scale maps (for detection): the outputs of timm's feature levels ``levels``."""
        if self.channels_last:
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        return self.model.forward_intermediates(pixel_values, indices=list(levels), intermediates_only=True)

    def feature_channels(self, levels: tuple[int, ...]) -> list[int]:
        info = self.model.feature_info
        return [info[i]["num_chs"] for i in levels]

    def frozen_encoder(self, items: int | None = None):
        few = items is not None and items < TRACE_MIN_ITEMS
        if few or not (self.cfg.trace and settings().fast):
            return self
        return FrozenTrace(self)

    def set_pooling(self, pooling: str) -> None:
        """Pool the maps another way from now on (``feature_dim`` follows)."""
        if pooling not in POOLINGS:
            raise GraftError(f"pooling must be one of {', '.join(POOLINGS)} for image backbones, got {pooling!r}")
        self.pooling = pooling
        self.feature_dim = self._probe_feature_dim()

    @torch.no_grad()
    def average_is_mean_of_maps(self) -> bool:
        """Whether "avg" pooling is the plain mean of the feature maps, i.e. the first half of "avgmax" (true of
        CNNs whose head is a global average pool; not of those with layers after it, or of token models)."""
        was_training = self.training
        self.eval()
        maps = self.forward_maps(torch.randn(2, 3, self.image_size, self.image_size, device=self._device()))
        same = maps.ndim == 4 and torch.allclose(self.model.forward_head(maps, pre_logits=True), maps.mean((2, 3)),
                                                 atol=1e-5)
        self.train(was_training)
        return bool(same)

    def standard_memory_format(self) -> None:
        """Undo channels-last (for export: an ONNX graph has no memory formats, and channels-last strides only add
        ``as_strided`` gathers to it after the pooling, which OpenVINO ran wrongly once NNCF had quantized the graph:
        max |logit difference| from the bundle 2.5, onnxruntime 0.5 on the same file)."""
        if self.channels_last:
            self.channels_last = False
            self.model.to(memory_format=torch.contiguous_format)

    def _device(self) -> torch.device:
        """Where the weights are (a probe of the network must run there: pooling is chosen after a GPU extraction)."""
        return next(self.model.parameters()).device

    def _pool(self, maps: torch.Tensor) -> torch.Tensor:
        if self.pooling == "flatten":
            return maps.flatten(1)
        if self.pooling == "avgmax":  # fastai's concat pooling: the max keeps small, strong local evidence
            dims = tuple(range(2, maps.ndim)) if maps.ndim == 4 else (1,)
            return torch.cat([maps.mean(dims), maps.amax(dims)], 1)
        return self.model.forward_head(maps, pre_logits=True)

    def classify(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (only when built with its original classifier)."""
        return self.model(pixel_values)

    def layer_groups(self) -> list[LayerGroup]:
        groups = group_parameters(self.model, self.model.group_matcher(coarse=True))
        out = []
        for index, params in enumerate(groups.values()):
            if not params:
                continue
            name = "stem" if index == 0 else _group_name(params)
            out.append(LayerGroup(name, tuple(f"model.{p}" for p in params)))
        return out

    def spec(self) -> dict:
        return {"name": self.cfg.name, "family": "image", "arch": self.cfg.arch, "pooling": self.pooling,
                "image_size": self.image_size}

    @torch.no_grad()
    def _probe_feature_dim(self) -> int:
        """One forward pass tells the truth (timm heads differ: conv heads, pre-logits MLPs, tokens)."""
        was_training = self.training
        self.eval()
        dim = self._pool(self.forward_maps(torch.zeros(1, 3, self.image_size, self.image_size,
                                                       device=self._device()))).shape[1]
        self.train(was_training)
        return int(dim)


def _group_name(params: list[str]) -> str:
    """'blocks.3' for one stage, 'blocks.6+conv_head+bn2' where timm merged the tail into a group."""
    parts = []
    for name in params:
        tokens = name.split(".")
        part = ".".join(tokens[:2]) if len(tokens) > 2 and tokens[1].isdigit() else tokens[0]
        if part not in parts:
            parts.append(part)
    return "+".join(parts)


def build_image_backbone(cfg: BackboneCfg, weights: ResolvedWeights | None, pooling: str = "avg",
                         image_size: int | None = None, with_classifier: bool = False) -> ImageBackbone:
    """A timm trunk (classifier removed unless ``with_classifier``) with ``weights`` loaded."""
    model = timm.create_model(cfg.arch, pretrained=False, num_classes=1000 if with_classifier else 0)
    if cfg.arch.startswith("vgg") and not with_classifier:
        model.pre_logits = nn.Identity()  # the convolutional base only, as Keras' include_top=False
    if weights is not None:
        try:
            state = read_state_dict(weights.location)
            load_matching(model, state, f"weights for '{cfg.name}' from {weights.source}")
        except (ValueError, RuntimeError, OSError, pickle.UnpicklingError) as exc:
            raise WeightsNotFound(f"cannot use weights {weights.location} for '{cfg.name}': {exc}") from None
    backbone = ImageBackbone(cfg, model, pooling, image_size)
    if weights is not None:
        backbone.weights_source, backbone.weights_sha256 = weights.source, weights.sha256
    return backbone
