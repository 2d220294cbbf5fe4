"""Does an exported network compute what its bundle computes? One comparison per kind of output.

A task names the kind its network returns (``Task.export_outputs``): ``"logits"`` (one row of class scores per
input) or ``"detections"`` (boxes, scores and labels for one image). fp32 exports must match to rounding; int8
exports must keep the decisions that matter (the confident top-1 class; the confident boxes).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from graft.errors import GraftError

FP32_TOLERANCE = 1e-3  # max |export - bundle| relative to the largest output magnitude (at least 1)
INT8_MIN_AGREEMENT = 0.95  # an int8 export keeps the top-1 class of at least this share of the confident inputs
CONFIDENT = 0.2  # top-1 minus top-2 probability: below it, a class flip is a near tie, not a broken export
INT8_MIN_BOX_AGREEMENT = 0.9  # an int8 detector finds at least this share of the bundle's boxes (and no more)
SAME_BOX_IOU = {False: 0.99, True: 0.5}  # IoU at which two boxes are the same detection: fp32, int8


@dataclass
class Parity:
    max_abs_diff: float
    agreement: float  # top-1 agreement (logits) or the share of detections found by both (detections)
    confident_agreement: float  # the same, on what the bundle is sure of
    inputs: int
    passed: bool
    rule: str
    measure: str = "top-1 agreement"

    def describe(self) -> str:
        confident = (f" ({self.confident_agreement:.2%} where the model is confident)"
                     if self.measure == "top-1 agreement" else "")
        return (f"max |difference| {self.max_abs_diff:.2e}, {self.measure} {self.agreement:.2%}{confident} on "
                f"{self.inputs} real inputs ({self.rule}): {'passed' if self.passed else 'FAILED'}")


def logits_parity(outputs: list, references: list, quantized: bool, **_) -> Parity:
    """Class scores: fp32 within FP32_TOLERANCE of the bundle; int8 keeps the confident top-1 classes."""
    diffs, scale = [], 1.0
    agree, confident_agree, confident = 0, 0, 0
    for out, ref in zip(outputs, references):
        if out.shape != ref.shape:
            raise GraftError(f"the export returns shape {tuple(out.shape)}, the bundle {tuple(ref.shape)}")
        diffs.append(float((out - ref).abs().max()))
        scale = max(scale, float(ref.abs().max()))
        same = out.argmax(-1) == ref.argmax(-1)
        top2 = ref.float().softmax(-1).topk(min(2, ref.shape[-1]), -1).values
        sure = (top2[:, 0] - top2[:, -1]) >= CONFIDENT
        agree += int(same.sum())
        confident_agree, confident = confident_agree + int((same & sure).sum()), confident + int(sure.sum())
    total = sum(r.shape[0] for r in references)
    max_diff, agreement = max(diffs), agree / max(total, 1)
    confident_agreement = confident_agree / confident if confident else 1.0
    if quantized:
        rule = f"int8: top-1 unchanged on >= {INT8_MIN_AGREEMENT:.0%} of the confident inputs"
        passed = confident_agreement >= INT8_MIN_AGREEMENT
    else:
        rule = f"fp32: max |difference| <= {FP32_TOLERANCE:g} x {scale:.3g}"
        passed = max_diff <= FP32_TOLERANCE * scale
    return Parity(max_diff, agreement, confident_agreement, total, passed, rule)


def detections_parity(outputs: list, references: list, quantized: bool, min_score: float = 0.3, **_) -> Parity:
    """(boxes, scores, labels) per image. Each of the bundle's boxes scoring >= ``min_score`` is matched to an
    export box of its label (best IoU). fp32: every one found at IoU >= 0.99, coordinates and scores within
    FP32_TOLERANCE x the image scale, and no extra box; int8: >= INT8_MIN_BOX_AGREEMENT of them found at
    IoU >= 0.5, counting extra boxes against it. Boxes within a small margin of ``min_score`` on either side
    count as neither found nor extra: a score moving across the threshold by rounding is not a defect."""
    from torchvision.ops import box_iou

    margin = 0.1 if quantized else 1e-3
    found = expected = extra = 0
    diffs, scale = [0.0], 1.0
    for (boxes, scores, labels), (ref_boxes, ref_scores, ref_labels) in zip(outputs, references):
        scale = max(scale, float(ref_boxes.abs().max()) if len(ref_boxes) else 1.0)
        mine, theirs = ref_scores >= min_score - margin, scores >= min_score - margin
        ref_boxes, ref_scores, ref_labels = ref_boxes[mine], ref_scores[mine], ref_labels[mine]
        boxes, scores, labels = boxes[theirs], scores[theirs], labels[theirs]
        iou = box_iou(ref_boxes, boxes)
        iou[ref_labels[:, None] != labels[None, :]] = -1.0  # a box of another class is no match
        used = torch.zeros(len(boxes), dtype=torch.bool)
        for i in ref_scores.argsort(descending=True).tolist():  # greedy, the bundle's surest boxes first
            sure = bool(ref_scores[i] >= min_score + margin)
            expected += sure
            candidates = iou[i].masked_fill(used, -1.0)
            j = int(candidates.argmax()) if len(boxes) else -1
            if j < 0 or float(candidates[j]) < SAME_BOX_IOU[quantized]:
                continue
            used[j] = True
            found += sure
            diffs.append(max(float((ref_boxes[i] - boxes[j]).abs().max()), float((ref_scores[i] - scores[j]).abs())))
        extra += int(((scores >= min_score + margin) & ~used).sum())
    agreement = found / max(expected + extra, 1)
    recall = found / max(expected, 1)
    if quantized:
        rule = (f"int8: >= {INT8_MIN_BOX_AGREEMENT:.0%} of the boxes scoring >= {min_score:g} found at IoU >= 0.5, "
                "extra boxes counted against it")
        passed = agreement >= INT8_MIN_BOX_AGREEMENT
    else:
        rule = (f"fp32: every box scoring >= {min_score:g} found, none extra, max |difference| <= "
                f"{FP32_TOLERANCE:g} x {scale:.3g}")
        passed = found == expected and extra == 0 and max(diffs) <= FP32_TOLERANCE * scale
    return Parity(max(diffs), agreement, recall, len(references), passed, rule,
                  measure=f"boxes found by both ({found} of {expected} + {extra} extra)")


COMPARISONS = {"logits": logits_parity, "detections": detections_parity}
