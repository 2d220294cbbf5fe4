"""`graft predict` without PyTorch: the converted (or exported) network in onnxruntime, PIL + numpy preprocessing."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

# runs `graft predict` in a fresh interpreter and reports whether torch was imported on the way
PREDICT = ("import json, sys; from graft.cli import main; code = main(sys.argv[1:]); "
           "print(json.dumps({'torch': 'torch' in sys.modules, 'code': code}))")


def _predict(*args, env_extra: dict | None = None) -> tuple[list[dict], bool]:
    import os

    env = {**os.environ, "GRAFT_FAST": "0", **(env_extra or {})}  # fp32 on both paths: the same numbers
    done = subprocess.run([sys.executable, "-c", PREDICT, "predict", *map(str, args), "--json", "--top-k", "2"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    status = json.loads(lines[-1])
    assert status["code"] == 0, done.stderr
    return json.loads("\n".join(lines[:-1])), status["torch"]


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("crop_pct", [0.875, 1.0])
def test_preprocessing_equals_timms_evaluation_transform(photos, interpolation, crop_pct):
    from timm.data import create_transform

    from graft.data.images import load_image
    from graft.deploy.quick import image_array

    prep = {"input_size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
            "interpolation": interpolation, "crop_pct": crop_pct}
    reference = create_transform(input_size=224, interpolation=interpolation, mean=prep["mean"], std=prep["std"],
                                 crop_pct=crop_pct)
    for path in sorted(photos.iterdir()):  # portrait, landscape and square photographs
        image = load_image(path)
        assert np.abs(image_array(image, prep) - reference(image).numpy()).max() < 1e-6, path.name


def test_second_predict_skips_torch_and_gives_the_same_answers(image_bundle, elpv_slice, graft_home):
    images = elpv_slice / "test"
    first, torch_used = _predict(image_bundle, images)
    assert torch_used  # the full path, which then converts the network once
    assert list((graft_home / "onnx").glob("*.onnx"))
    second, torch_used = _predict(image_bundle, images)
    assert not torch_used
    assert [r["input"] for r in second] == [r["input"] for r in first]
    assert [r["label"] for r in second] == [r["label"] for r in first]
    assert [t["label"] for r in second for t in r["top_k"]] == [t["label"] for r in first for t in r["top_k"]]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(first, second)) < 1e-4


def test_conversion_can_be_turned_off(image_bundle, elpv_slice, graft_home):
    image = next((elpv_slice / "test").rglob("*.png"))
    _, torch_used = _predict(image_bundle, image, env_extra={"GRAFT_QUICK_PREDICT": "0"})
    assert torch_used and not (graft_home / "onnx").exists()


def test_an_exported_file_is_predicted_without_torch(image_bundle, elpv_slice, tmp_path):
    from graft.deploy.export import export

    export(image_bundle, tmp_path / "cells.onnx")
    image = next((elpv_slice / "test").rglob("*.png"))
    (result,), torch_used = _predict(tmp_path / "cells.onnx", image)
    assert not torch_used and result["input"] == str(image) and len(result["top_k"]) == 2


def test_a_changed_model_does_not_use_the_old_conversion(image_bundle, elpv_slice, tmp_path):
    """The converted network is found by the weights' hash in config.json: a model saved again with other
    weights misses the cache and is answered by the full path."""
    import torch

    import graft

    image = next((elpv_slice / "test").rglob("*.png"))
    _predict(image_bundle, image)  # converts the original
    model = graft.load(image_bundle)
    with torch.no_grad():
        for p in model.model.head.parameters():
            p.add_(0.5)
    changed = model.save(tmp_path / "changed")
    _, torch_used = _predict(changed, image, env_extra={"GRAFT_QUICK_PREDICT": "0"})
    assert torch_used
