"""The PyTorch port of face-api.js's FaceRecognitionNet against descriptors computed by the original TF.js model.

The reference (face_api_reference.json) was computed by scripts/face_api_reference.mjs with
@vladmandic/face-api 1.7.15 on tfjs 4.22.0's CPU backend, for four 150x150 inputs cut from packaged images by
plain slicing (no resampling, so both sides see identical bytes).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from graft import assets
from graft.faces import face_api

REFERENCE = json.loads((Path(__file__).parent / "face_api_reference.json").read_text())
PHOTOS = "face-recognition-test-images"


def _inputs() -> dict[str, np.ndarray]:
    from PIL import Image
    from skimage import data

    photos = assets.require(PHOTOS)
    rgb = lambda name: np.asarray(Image.open(photos / name).convert("RGB"))  # noqa: E731
    return {"astronaut": data.astronaut()[0:450:3, 31:481:3],
            "obama": rgb("obama.jpg")[100:400:2, 380:680:2],
            "biden": rgb("biden.jpg")[200:500:2, 430:730:2],
            "noise": np.random.default_rng(0).integers(0, 256, (150, 150, 3), dtype=np.uint8)}


@pytest.fixture(scope="module")
def net():
    model_dir = assets.require("face-api", "model")
    model = face_api.FaceRecognitionNet()
    model.load_state_dict(face_api.convert(model_dir))
    return model.eval()


def test_matches_the_tfjs_descriptors(net):
    for name, image in _inputs().items():
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()[None]
        with torch.no_grad():
            ours = net(face_api.normalise(x))[0].numpy()
        theirs = np.asarray(REFERENCE["descriptors"][name])
        assert np.abs(ours - theirs).max() < 1e-3, name  # measured: 4e-6


def test_conversion_is_cached_once(tmp_path):
    target = tmp_path / "face.safetensors"
    model_dir = assets.require("face-api", "model")
    face_api.cached_weights(model_dir, target)
    stamp = target.stat().st_mtime_ns
    face_api.cached_weights(model_dir, target)
    assert target.stat().st_mtime_ns == stamp


def test_a_damaged_weights_file_is_refused(tmp_path):
    model_dir = assets.require("face-api", "model")
    (tmp_path / face_api.MANIFEST).write_text((model_dir / face_api.MANIFEST).read_text())
    (tmp_path / face_api.WEIGHTS).write_bytes((model_dir / face_api.WEIGHTS).read_bytes()[:-10])
    from graft.errors import GraftError

    with pytest.raises(GraftError, match="manifest describes"):
        face_api.convert(tmp_path)


def test_missing_asset_says_how_to_get_it(monkeypatch, tmp_path):
    from graft.errors import DataError

    monkeypatch.setattr(assets, "roots", lambda: [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(DataError, match="npm pack @vladmandic/face-api"):
        assets.require("face-api", "model")


def test_embedder_without_its_asset_is_one_line_naming_the_fetch(monkeypatch, tmp_path):
    from graft.errors import WeightsNotFound
    from graft.faces.embedders import build_embedder

    monkeypatch.setattr(assets, "roots", lambda: [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(WeightsNotFound) as err:
        build_embedder("face_api_resnet34")
    assert "npm pack @vladmandic/face-api@1.7.15" in str(err.value) and "\n" not in str(err.value)
