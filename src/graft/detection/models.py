"""Detectors built from graft's backbones: what the detection task trains, saves and rebuilds.

Every builder returns a ``Detector``: a torchvision-style detection model (``model(images)`` -> boxes,
``model(images, targets)`` -> a loss dict), its layer groups (input side first, parameter names relative
to the model) for freeze/unfreeze schedules, and the names of the *new* modules, which train in the head
phase and at the head learning rate. Two architectures:

- ``ssd-coco``: SSD-MobileNetV2 trained on COCO (offline, from a registry package). Fine-tuning starts
  from a whole detector; only the class convs are new.
- ``fasterrcnn``: Faster R-CNN with a feature pyramid on any timm image backbone of the zoo (ImageNet
  weights); the FPN, the RPN and the RoI heads are new. Anchor sizes follow the training boxes.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from graft.backbones import LayerGroup, create_backbone
from graft.errors import GraftError

ARCHS = ("ssd-coco", "fasterrcnn")
FPN_LEVELS = (2, 3, 4)  # timm feature levels at strides 8, 16 and 32
FPN_CHANNELS = 128  # narrower than torchvision's 256, to keep training affordable on a CPU


@dataclass
class Detector:
    model: nn.Module
    groups: list[LayerGroup]  # the pretrained part, input side first
    new: list[str] = field(default_factory=list)  # prefixes of the new modules' parameter names

    def new_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.model.named_parameters() if n.startswith(tuple(self.new))]


# ---------------------------------------------------------------------------------------- SSD (COCO)
def build_ssd_coco(num_classes: int | None, weights: bool) -> Detector:
    """The COCO SSD; ``num_classes`` (background included) replaces its class convs, None keeps COCO's."""
    from graft.detection import ssd_coco

    model = ssd_coco.load_pretrained() if weights else ssd_coco.SSDMobileNetV2()
    new = []
    if num_classes is not None:
        ssd_coco.replace_class_head(model, num_classes)
        new = ["head.classification_head."]
    groups = [LayerGroup(name, tuple(params)) for name, params in ssd_coco.layer_groups(model)
              if not (num_classes is not None and name == "class_head")]
    return Detector(model, groups, new)


# ------------------------------------------------------------------------- Faster R-CNN on a timm trunk
class TrunkWithFPN(nn.Module):
    """A zoo image backbone's multi-scale maps, through a feature pyramid (torchvision's FPN)."""

    def __init__(self, trunk: nn.Module, levels: tuple[int, ...] = FPN_LEVELS, channels: int = FPN_CHANNELS):
        super().__init__()
        self.trunk, self.levels = trunk, levels
        self.fpn = FeaturePyramidNetwork(trunk.feature_channels(levels), channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> OrderedDict:
        maps = self.trunk.feature_maps(x, self.levels)
        return self.fpn(OrderedDict((str(i), m.contiguous()) for i, m in enumerate(maps)))


def anchor_sizes(box_sides: list[float], levels: int = len(FPN_LEVELS) + 1) -> tuple[int, ...]:
    """One anchor size per pyramid level, doubling, starting near the small end of the objects' sizes.

    ``box_sides``: sqrt(area) of the training boxes in model-input pixels. torchvision's default (32 px
    and up) misses objects of 10-30 px, such as tree crowns in aerial tiles.
    """
    if not box_sides:
        return tuple(32 * 2 ** i for i in range(levels))
    small = sorted(box_sides)[len(box_sides) // 10]
    first = int(min(max(2 ** math.floor(math.log2(max(small, 1.0))), 8), 64))
    return tuple(first * 2 ** i for i in range(levels))


def build_fasterrcnn(backbone_name: str, num_classes: int, *, weights, image_size: int,
                     anchors: tuple[int, ...], mean, std) -> Detector:
    trunk = create_backbone(backbone_name, weights=weights, pooling="avg")
    if not hasattr(trunk, "feature_maps"):
        raise GraftError(f"backbone '{backbone_name}' has no multi-scale feature maps: detection needs an image "
                         "backbone (see `graft models --task detection`)")
    model = FasterRCNN(
        TrunkWithFPN(trunk), num_classes=num_classes,
        rpn_anchor_generator=AnchorGenerator(tuple((a,) for a in anchors), ((0.5, 1.0, 2.0),) * len(anchors)),
        box_roi_pool=MultiScaleRoIAlign(["0", "1", "2"], output_size=7, sampling_ratio=2),
        min_size=image_size, max_size=image_size, image_mean=list(mean), image_std=list(std),
        box_detections_per_img=300, box_score_thresh=0.01)
    model.weights_source, model.weights_sha256 = trunk.weights_source, trunk.weights_sha256
    groups = [LayerGroup(g.name, tuple(f"backbone.trunk.{p}" for p in g.params)) for g in trunk.layer_groups()]
    return Detector(model, groups, ["backbone.fpn.", "rpn.", "roi_heads."])
