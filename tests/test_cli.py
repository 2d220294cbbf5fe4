"""The `graft` command as a user runs it: models, fit, evaluate, predict; errors as one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import graft as graft_api
from graft.commands import infer_task


def graft(*args, check=True, **env):
    proc = subprocess.run([sys.executable, "-m", "graft.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "GRAFT_OFFLINE": "1", **env}, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
    return proc


def test_models_available_lists_packaged_weights():
    rows = json.loads(graft("models", "--available", "--json").stdout)
    assert {r["name"] for r in rows} == {"mobilenet_v2", "efficientnet_lite0", "minilm-l6", "ssd_mobilenet_v2_coco",
                                         "face_api_resnet34", "dlib_resnet_v1", "smollm2-135m-instruct", "gemma-3-270m",
                                         "multilingual-e5-small"}
    everything = json.loads(graft("models", "--json").stdout)
    assert len(everything) >= 19 and {"name", "family", "params_m", "input", "tasks", "licence"} <= set(everything[0])
    assert all(r["licence"] for r in everything)  # every entry shows its licence
    detection = {r["name"]: r for r in json.loads(graft("models", "--task", "detection", "--json").stdout)}
    assert detection["ssd_mobilenet_v2_coco"]["family"] == "detector" and "mobilenet_v2" in detection
    assert "minilm-l6" not in detection
    faces = {r["name"]: r for r in json.loads(graft("models", "--task", "faces", "--json").stdout)}
    assert set(faces) == {"face_api_resnet34", "dlib_resnet_v1", "facenet_vggface2", "facenet_casia"}
    assert faces["face_api_resnet34"]["licence"].startswith("MIT")


def test_image_fit_evaluate_predict(elpv_slice, tmp_path):
    out = tmp_path / "model"
    fit = graft("fit", elpv_slice / "train", "--backbone", "mobilenet_v2", "--strategy", "feature-extraction",
                "--epochs", "5", "--head", "16", "--label-smoothing", "0.05", "--num-workers", "0", "--out", out)
    assert "validation accuracy" in fit.stdout
    recipe = json.loads((out / "config.json").read_text())["training"]  # the recipe as it ran, for reproducing
    assert recipe["epochs"] == 5 and recipe["label_smoothing"] == 0.05 and recipe["min_scale"] == 0.5
    report = json.loads(graft("evaluate", out, elpv_slice / "test", "--json").stdout)
    assert report["n"] == 48 and set(report) >= {"accuracy", "balanced_accuracy", "macro_f1", "per_class",
                                                 "confusion_matrix"}
    image = next((elpv_slice / "test" / "defective").iterdir())
    predictions = json.loads(graft("predict", out, image, "--top-k", "2", "--json").stdout)
    api = graft_api.load(out).predict([image], top_k=2)[0]  # the CLI prints what the saved model predicts
    assert predictions[0]["label"] == api["label"] and len(predictions[0]["top_k"]) == 2
    assert [t["label"] for t in predictions[0]["top_k"]] == [t["label"] for t in api["top_k"]]
    assert sum(t["score"] for t in predictions[0]["top_k"]) == pytest.approx(1.0, abs=1e-3)


def test_text_fit_predict_infers_task(rotten_slice, tmp_path):
    assert infer_task(str(rotten_slice / "train.csv")) == "text-classification"
    out = tmp_path / "text"
    graft("fit", rotten_slice / "train.csv", "--backbone", "minilm-l6", "--strategy", "feature-extraction",
          "--epochs", "5", "--out", out)
    result = json.loads(graft("predict", out, "--text", "A wonderful film.", "--json").stdout)
    assert result[0]["label"] == graft_api.load(out).predict(["A wonderful film."])[0]["label"]
    table = graft("evaluate", out, rotten_slice / "test.csv").stdout
    assert "accuracy" in table and "confusion matrix" in table


@pytest.mark.parametrize("args, message", [
    (["evaluate", "/nonexistent/model", "x"], "is not a graft model"),
    (["fit", "/nonexistent/data", "--out", "/tmp/x", "--task", "image"], "not found"),
])
def test_errors_are_one_line_without_traceback(args, message):
    proc = graft(*args, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_tampered_bundle_is_refused(elpv_slice, tmp_path):
    out = tmp_path / "model"
    graft("fit", elpv_slice / "train", "--strategy", "feature-extraction", "--epochs", "1", "--out", out)
    weights = out / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    proc = graft("evaluate", out, elpv_slice / "test", check=False)
    assert proc.returncode == 2 and "does not match the sha256" in proc.stderr
