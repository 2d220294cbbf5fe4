"""Object detection on real aerial tree tiles: fit / evaluate / predict through the API and the CLI,
save -> load -> identical boxes, the strategies' trainable parameters, and the COCO detector out of the box."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import graft
import torch
from graft import strategies
from graft.detection.models import anchor_sizes
from graft.errors import DataError, GraftError
from graft.tasks.detection import ObjectDetector

pytest.importorskip("torchmetrics")


@pytest.fixture(scope="session")
def tree_tiles(tmp_path_factory):
    """Five real tiles per split of the built-in trees set."""
    from graft import datasets

    return datasets.trees(tmp_path_factory.mktemp("trees"), limit=5)


def _cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "graft.cli", *map(str, args)], capture_output=True, text=True,
                            env={**os.environ, "GRAFT_OFFLINE": "1", "GRAFT_QUIET": "1"})
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_fit_evaluate_predict_save_load_api(tree_tiles, tmp_path):
    det = ObjectDetector("ssd_mobilenet_v2_coco", "fine-tune", epochs=1, head_epochs=1, batch_size=4, unfreeze=1)
    det.fit(tree_tiles / "train")
    assert det.classes == ["Tree"]
    report = det.evaluate(tree_tiles / "test")
    assert set(report) >= {"map", "map_50", "map_75", "recall", "per_class", "implementation"}
    assert 0.0 <= report["map"] <= report["map_50"] <= 1.0
    assert report["n_boxes"] > 0 and "torchmetrics" in report["implementation"]
    out = det.save(tmp_path / "model")
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "config.json", "metrics.json", "history.csv",
                                               "curves.png", "sheet.png"}
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "detection" and config["classes"] == ["Tree"] and config["format_version"] >= 1
    images = sorted((tree_tiles / "test" / "images").iterdir())[:3]
    before = det.predict(images, min_score=0.05)
    after = graft.load(out).predict(images, min_score=0.05)
    assert before == after
    assert sum(len(r["objects"]) for r in before) > 0
    for r in before:
        for obj in r["objects"]:
            x1, y1, x2, y2 = obj["box"]
            assert obj["label"] == "Tree" and obj["score"] >= 0.05 and x2 > x1 and y2 > y1


def test_cli_fit_evaluate_predict_draw_on_fasterrcnn(tree_tiles, tmp_path):
    out = tmp_path / "frcnn"
    # the task is inferred from the COCO layout; a zoo image backbone gets a Faster R-CNN
    fit = _cli("fit", tree_tiles / "train", "--backbone", "mobilenet_v2", "--strategy", "feature-extraction",
               "--epochs", "1", "--batch-size", "4", "--image-size", "320", "--out", out)
    assert "mAP@.5" in fit.stdout and (out / "model.safetensors").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["detector"]["arch"] == "fasterrcnn" and config["detector"]["anchor_sizes"]
    evaluation = json.loads(_cli("evaluate", out, tree_tiles / "test", "--json").stdout)
    assert set(evaluation["per_class"]) == {"Tree"}
    images = sorted((tree_tiles / "test" / "images").iterdir())[:2]
    predicted = json.loads(_cli("predict", out, *images, "--json", "--min-score", "0", "--draw", tmp_path / "drawn")
                           .stdout)
    assert [r["input"] for r in predicted] == [str(p) for p in images]
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == sorted(p.stem + ".png" for p in images)


def test_coco_detector_finds_the_cat_out_of_the_box(tmp_path):
    from PIL import Image
    from skimage import data

    Image.fromarray(data.chelsea()).save(tmp_path / "chelsea.png")
    result = json.loads(_cli("predict", "ssd_mobilenet_v2_coco", tmp_path / "chelsea.png", "--json").stdout)
    labels = [o["label"] for o in result[0]["objects"]]
    assert labels and labels[0] == "cat"


def test_bad_boxes_stop_with_one_line_naming_the_file(tmp_path):
    from PIL import Image

    (tmp_path / "images").mkdir()
    Image.new("RGB", (40, 30)).save(tmp_path / "images" / "a.png")
    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 0, 10]}],
            "categories": [{"id": 1, "name": "car"}]}
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    result = _cli("fit", tmp_path, "--task", "detection", "--out", tmp_path / "out", check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "annotations.json" in lines[0] and "Traceback" not in result.stderr


def _trainable(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("arch_backbone",
                         ["ssd_mobilenet_v2_coco", "mobilenet_v2", "fasterrcnn_mobilenet_v3_large_fpn"])
def test_each_strategy_trains_exactly_what_it_claims(arch_backbone):
    det = ObjectDetector(arch_backbone, "fine-tune", weights=None, image_size=320)
    det.classes, det.anchors = ["a", "b"], (16, 32, 64, 128)
    det.image_size = 300 if arch_backbone.startswith("ssd") else 320
    detector = det.build(None)
    model = detector.model
    new = {n for n, _ in model.named_parameters() if n.startswith(tuple(detector.new))}
    assert new
    # feature extraction: the new modules only
    strategies.freeze(model)
    for p in detector.new_parameters():
        p.requires_grad_(True)
    assert _trainable(model) == new
    # fine-tune, last 2 groups: those groups and the new modules, nothing else
    unfrozen = strategies.unfreeze_last(model, 2, detector.groups)
    for p in detector.new_parameters():
        p.requires_grad_(True)
    assert [g.name for g in unfrozen] == [g.name for g in detector.groups[-2:]]
    assert _trainable(model) == new | {n for g in unfrozen for n in g.params}
    # more groups than there are: all of them (never fewer)
    assert len(strategies.unfreeze_last(model, len(detector.groups) + 5, detector.groups)) == len(detector.groups)


def test_anchor_sizes_follow_the_objects():
    assert anchor_sizes([20.0] * 50 + [80.0] * 50) == (16, 32, 64, 128)
    assert anchor_sizes([200.0] * 10) == (64, 128, 256, 512)
    assert anchor_sizes([]) == (32, 64, 128, 256)


def test_auto_strategy_counts_boxes_per_class(tree_tiles):
    det = ObjectDetector()
    data = det.read_labelled(tree_tiles / "train")
    strategy, reason = det.suggest_strategy(data)
    boxes = data.report["boxes_per_class"]["Tree"]
    assert strategy == ("fine-tune" if boxes >= 100 else "feature-extraction") and str(boxes) in reason


def test_evaluation_refuses_classes_the_model_never_saw(tree_tiles, tmp_path):
    det = ObjectDetector("ssd_mobilenet_v2_coco", weights=None)
    det.classes = ["Car"]
    det.image_size = 300
    det.detector = det.build(None)
    det.model = det.detector.model
    with pytest.raises(DataError, match="Tree"):
        det.evaluate(tree_tiles / "test")


def test_untrained_detector_says_so():
    with pytest.raises(GraftError, match="not been fitted"):
        ObjectDetector().predict(["x.png"])


def test_augmentation_moves_the_boxes_with_the_pixels(tmp_path):
    """A white square on black, boxed: after random flips the box must still frame the white square."""
    import numpy as np
    from PIL import Image

    from graft.data.boxes import BoxedImage
    from graft.tasks.detection import _Boxes

    pixels = np.zeros((60, 80, 3), np.uint8)
    pixels[10:30, 5:25] = 255
    Image.fromarray(pixels).save(tmp_path / "square.png")
    item = BoxedImage(tmp_path / "square.png", 80, 60, ((5.0, 10.0, 25.0, 30.0),), ("a",))
    dataset = _Boxes([item], {"a": 1}, train=True, vflip=True)
    seen = set()
    for seed in range(12):
        torch.manual_seed(seed)
        image, target = dataset[0]
        x1, y1, x2, y2 = target["boxes"][0].round().int().tolist()
        bright = image.mean(0) > 0.5
        assert bright[y1:y2, x1:x2].all() and bright.sum() == (x2 - x1) * (y2 - y1)
        seen.add((x1, y1))
    assert len(seen) > 1  # the flips did happen
