"""Detectors exported whole (resizing, decoding and NMS in the graph) and checked box by box."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import graft
from graft.deploy.export import export
from graft.deploy.parity import detections_parity
from graft.errors import GraftError


def _test_images(bundle) -> list[Path]:
    config = json.loads((bundle / "config.json").read_text())
    return sorted((Path(config["data_source"]).parent / "test" / "images").iterdir())[:4]


def _fp32_objects(bundle, image: Path, min_score: float) -> list[dict]:
    """The bundle's own detections computed in fp32 (the reference an fp32 export must match)."""
    model = graft.load(bundle)
    with torch.inference_mode():
        boxes, scores, labels = model.export_module()(**model.export_inputs([image]))
    keep = scores >= min_score
    return [{"label": model.classes[int(lab) - 1], "score": float(s), "box": b.tolist()}
            for b, s, lab in zip(boxes[keep], scores[keep], labels[keep])]


def test_onnx_fp32_detector_finds_the_bundles_boxes(detection_bundle, tmp_path):
    out = tmp_path / "trees.onnx"
    info = export(detection_bundle, out, check_inputs=4)
    assert info["outputs"] == ["boxes", "scores", "labels"] and info["parity"]["passed"]
    assert info["parity"]["measure"].startswith("boxes found by both") and "TorchScript" in info["exporter"]
    images = _test_images(detection_bundle)
    exported = graft.load(out)
    found = exported.predict(images, min_score=0.25)
    assert sum(len(r["objects"]) for r in found) > 0
    for image, result in zip(images, found):  # the same boxes to a pixel's fraction, same labels and scores
        reference = _fp32_objects(detection_bundle, image, 0.25)
        assert len(result["objects"]) == len(reference)
        for ref in reference:
            assert any(o["label"] == ref["label"] and abs(o["score"] - ref["score"]) < 2e-3
                       and max(abs(p - q) for p, q in zip(o["box"], ref["box"])) < 0.5 for o in result["objects"])
    test_dir = images[0].parent.parent
    assert exported.evaluate(test_dir)["map_50"] == pytest.approx(graft.load(detection_bundle).evaluate(test_dir)
                                                                  ["map_50"], abs=0.02)


def test_int8_coco_detector_keeps_the_confident_boxes(coco_bundle, photos, tmp_path):
    """Static int8, calibrated on the photos: every object the fp32 detector is sure of is still found."""
    fp32, int8 = tmp_path / "coco.onnx", tmp_path / "coco-int8.onnx"
    export(coco_bundle, fp32, data=photos, check_inputs=8)
    info = export(coco_bundle, int8, quantize="int8", data=photos, check_inputs=8, calibration_inputs=8)
    assert info["quantize"] == "int8" and "static" in info["exporter"] and info["parity"]["passed"]
    assert int8.stat().st_size < fp32.stat().st_size / 2.5
    images = sorted(photos.iterdir())
    found = graft.load(int8).predict(images, min_score=0.3)
    reference = [_fp32_objects(coco_bundle, image, 0.6) for image in images]
    assert sum(map(len, reference)) >= 4
    assert any(o["label"] == "cat" for o in found[[p.stem for p in images].index("chelsea")]["objects"])
    for result, sure in zip(found, reference):
        for ref in sure:
            assert any(o["label"] == ref["label"] and _iou(o["box"], ref["box"]) >= 0.5 for o in result["objects"])


def _iou(a, b) -> float:
    from torchvision.ops import box_iou

    return float(box_iou(torch.tensor([a]), torch.tensor([b]))[0, 0])


def test_box_comparison_catches_a_moved_box_and_a_missing_one():
    boxes = torch.tensor([[10.0, 10, 50, 50], [60, 60, 90, 90]])
    scores, labels = torch.tensor([0.9, 0.8]), torch.tensor([1, 1])
    reference = [(boxes, scores, labels)]
    assert detections_parity([(boxes + 1e-4, scores, labels)], reference, False, min_score=0.3).passed
    moved = boxes.clone()
    moved[1] += 5.0
    assert not detections_parity([(moved, scores, labels)], reference, False, min_score=0.3).passed
    one = detections_parity([(boxes[:1], scores[:1], labels[:1])], reference, True, min_score=0.3)
    assert not one.passed and one.agreement == 0.5
    relabelled = detections_parity([(boxes, scores, torch.tensor([1, 2]))], reference, True, min_score=0.3)
    assert relabelled.agreement == pytest.approx(1 / 3)  # one found, one missing, one extra
    # a box scoring just under the threshold in one and just over in the other is a near tie, not a defect
    near = detections_parity([(boxes, torch.tensor([0.9, 0.2995]), labels)],
                             [(boxes, torch.tensor([0.9, 0.3004]), labels)], False, min_score=0.3)
    assert near.passed


def test_a_model_without_export_support_is_refused(tmp_path):
    with pytest.raises(GraftError, match="saved model directory"):
        export(tmp_path / "nothing", tmp_path / "x.onnx")


def test_a_detector_exports_to_onnx_only(coco_bundle, photos, tmp_path):
    with pytest.raises(GraftError, match="exports as onnx, not pt2"):
        export(coco_bundle, tmp_path / "coco.pt2", fmt="pt2", data=photos)


def test_cli_export_then_serve_the_exported_detector(coco_bundle, photos, tmp_path):
    from fastapi.testclient import TestClient

    from graft.deploy.server import Limits, create_app

    out = tmp_path / "coco.onnx"
    result = subprocess.run([sys.executable, "-m", "graft.cli", "export", str(coco_bundle), "--format", "onnx",
                             "--out", str(out), "--data", str(photos), "--check-inputs", "4"],
                            capture_output=True, text=True, env={**os.environ, "GRAFT_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert "boxes found by both" in result.stdout and out.is_file()
    client = TestClient(create_app(out, Limits()))
    cat = (photos / "chelsea.png").read_bytes()
    r = client.post("/predict", files={"file": ("cat.png", cat, "image/png")})
    assert r.status_code == 200, r.text
    objects = r.json()["predictions"][0]["objects"]
    assert objects and objects[0]["label"] == "cat" and len(objects[0]["box"]) == 4
    info = client.get("/info").json()
    assert info["task"] == "detection" and info["export"]["kind"] == "onnx" and info["export"]["parity"]["passed"]
