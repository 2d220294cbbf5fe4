"""Detectors built from graft's backbones: what the detection task trains, saves and rebuilds.

Every builder returns a ``Detector``: a torchvision-style detection model (``model(images)`` -> boxes,
``model(images, targets)`` -> a loss dict), its layer groups (input side first, parameter names relative
to the model) for freeze/unfreeze schedules, and the names of the *new* modules, which train in the head
phase and at the head learning rate. Two architectures:

- ``ssd-coco``: SSD-MobileNetV2 trained on COCO (offline, from a registry package). Fine-tuning starts
  from a whole detector; only the class convs are new.
- ``fasterrcnn-mobilenet-v3``: torchvision's COCO Faster R-CNN (online); a new box predictor.
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

ARCHS = ("ssd-coco", "fasterrcnn-mobilenet-v3", "fasterrcnn")
DENSE_CANDIDATES, DENSE_DETECTIONS = 400, 300  # per class before NMS, per image after it
FPN_LEVELS = (2, 3, 4)  # timm feature levels at strides 8, 16 and 32
FPN_CHANNELS = 128  # narrower than torchvision's 256, to keep training affordable on a CPU


@dataclass
class Detector:
    model: nn.Module
    groups: list[LayerGroup]  # the pretrained part, input side first
    new: list[str] = field(default_factory=list)  # prefixes of the new modules' parameter names

    def new_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.model.named_parameters() if n.startswith(tuple(self.new))]


# ---------------------------------------------------------------------------- whole pretrained detectors
def _pretrained_state(name: str, weights) -> tuple[dict | None, str, str | None]:
    """(state dict or None, where it came from, sha256) for a detector of the zoo, resolved offline-first."""
    from graft.backbones import get_cfg
    from graft.backbones.weights import read_state_dict, resolve

    if weights is None:
        return None, "random init", None
    cfg = get_cfg(name)
    found = resolve(cfg, None if weights == "pretrained" else weights)
    if found.location.suffix == ".pb":  # the TensorFlow graph as packaged: converted once, then cached
        from graft.backbones.weights import cache_location
        from graft.detection import ssd_coco

        ssd_coco.cached_weights(cache_location(cfg).parent)
        found = resolve(cfg)
    return read_state_dict(found.location), found.source, found.sha256


def build_ssd_coco(num_classes: int | None, weights, name: str = "ssd_mobilenet_v2_coco",
                   image_size: int = 300) -> Detector:
    """The COCO SSD; ``num_classes`` (background included) replaces its class convs, None keeps COCO's.
    ``image_size`` other than 300 keeps the anchors' pixel sizes (``ssd_coco.set_input_size``)."""
    from graft.detection import ssd_coco

    state, source, sha256 = _pretrained_state(name, weights)
    model = ssd_coco.SSDMobileNetV2()
    if state is not None:
        model.load_state_dict(state)
    if image_size != 300:
        ssd_coco.set_input_size(model, image_size)
    model.weights_source, model.weights_sha256 = source, sha256
    new = []
    if num_classes is not None:
        ssd_coco.replace_class_head(model, num_classes)
        new = ["head.classification_head."]
        # the COCO graph keeps 100 candidates per class before NMS (kept above for parity with it); a dense
        # scene (a tile of 40 tree crowns) needs more, as torchvision's SSD default of 400 allows
        model.topk_candidates, model.detections_per_img = DENSE_CANDIDATES, DENSE_DETECTIONS
    groups = [LayerGroup(group, tuple(params)) for group, params in ssd_coco.layer_groups(model)
              if not (num_classes is not None and group == "class_head")]
    return Detector(model, groups, new)


def build_torchvision_detector(num_classes: int | None, weights, name: str = "fasterrcnn_mobilenet_v3_large_fpn",
                               image_size: int = 800) -> Detector:
    """torchvision's COCO Faster R-CNN (MobileNetV3-L FPN); a new box predictor for ``num_classes``."""
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    state, source, sha256 = _pretrained_state(name, weights)
    model = fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=91,
                                              min_size=image_size, max_size=image_size)
    if state is not None:
        model.load_state_dict(state)
    model.weights_source, model.weights_sha256 = source, sha256
    new = []
    if num_classes is not None:
        features = model.roi_heads.box_predictor.cls_score.in_features
        model.roi_heads.box_predictor = FastRCNNPredictor(features, num_classes)
        new = ["roi_heads.box_predictor."]
    body = model.backbone.body  # MobileNetV3's feature blocks, input side first, in four groups
    names = [n for n, _ in model.named_parameters() if not n.startswith(tuple(new))]
    blocks = sorted({int(n.split(".")[2]) for n in names if n.startswith("backbone.body.")})
    cuts = [blocks[len(blocks) * i // 4] for i in range(4)] + [len(body) + 1]
    groups = [LayerGroup(f"body_{a}_{b - 1}", tuple(n for n in names if n.startswith("backbone.body.")
                                                    and a <= int(n.split(".")[2]) < b))
              for a, b in zip(cuts, cuts[1:])]
    groups += [LayerGroup("fpn", tuple(n for n in names if n.startswith("backbone.fpn."))),
               LayerGroup("rpn", tuple(n for n in names if n.startswith("rpn."))),
               LayerGroup("roi_heads", tuple(n for n in names if n.startswith("roi_heads.")))]
    return Detector(model, [g for g in groups if g.params], new)


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
