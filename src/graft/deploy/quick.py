"""Prediction without PyTorch: the model's network as ONNX, preprocessing in PIL + numpy.

A fresh ``graft predict`` process used to spend seconds importing torch, timm and torchvision before it looked at
one image, though a frozen network needs none of them to run. Here the network runs in onnxruntime:

- an exported ``.onnx`` file (``graft export``) takes this path directly;
- a saved model directory takes it once its network has been converted: the first ``graft predict`` of a
  model runs the full path and then converts the network with ``graft export``'s checked conversion (outputs
  compared with PyTorch's on the inputs just predicted), cached under ``$GRAFT_HOME/onnx`` by the weights' hash
  recorded in the model's config.json. ``GRAFT_QUICK_PREDICT=0`` turns the conversion and this path off.

Only tasks whose prediction is "preprocess, run the network, read its output" are here (``PREDICTORS``); any
other model, option or situation this path does not serve gets ``None`` and the full task path, so there is one
source of truth for errors and for every other task.
"""
from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import numpy as np

from graft.bundle import read_config
from graft.deploy.runtime import is_export, read_sidecar
from graft.errors import BundleError, GraftError
from graft.paths import graft_home

CACHE_VERSION = 1  # part of the cached file's name: a change in how it is made invalidates old files
BATCH = 32


def enabled() -> bool:
    return os.environ.get("GRAFT_QUICK_PREDICT", "1") != "0"


def cached_export(config: dict) -> Path:
    """Where the converted network of the model described by ``config`` lives."""
    return graft_home() / "onnx" / f"{config.get('weights_sha256')}-v{CACHE_VERSION}.onnx"


def predict(args) -> tuple[list[dict], object] | None:
    """``graft predict``'s results and their formatter, or None where the full path must answer."""
    if not enabled() or getattr(args, "task", None) or importlib.util.find_spec("onnxruntime") is None:
        return None
    path = Path(args.model)
    try:
        if path.is_dir():
            config = read_config(path)
            if config.get("task") not in PREDICTORS:
                return None
            path = cached_export(config)
            if not path.is_file():
                return None
        elif not is_export(path):
            return None
        info = read_sidecar(path)
    except BundleError:
        return None  # the full path reports the problem
    predictor = PREDICTORS.get(info.get("config", {}).get("task"))
    if predictor is None or info.get("kind") != "onnx":
        return None
    return predictor(path, info, args)


def remember(model_dir: str, model, args) -> None:
    """After the full path predicted with a saved model: convert its network once, so later runs are quick."""
    directory = Path(model_dir)
    if not enabled() or model.name not in PREDICTORS or not directory.is_dir() or not getattr(args, "inputs", None):
        return
    if any(importlib.util.find_spec(m) is None for m in ("onnxruntime", "onnxscript")):
        return  # graft[deploy] is not installed: the full path stays the only one
    target = cached_export(read_config(directory))
    if target.is_file():
        return
    from graft.deploy.export import export
    from graft.progress import log

    log(f"converting the network to ONNX once, so later `graft predict` runs of this model skip PyTorch "
        f"(cached in {target.parent}; GRAFT_QUICK_PREDICT=0 turns this off)")
    try:
        export(directory, target, data=args.inputs[0])
    except GraftError as exc:
        log(f"not converted ({exc}); predictions keep the full path")


# ---- image classification ---------------------------------------------------------------------------------
RESAMPLING = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}  # PIL's codes


def image_array(image, preprocessing: dict) -> np.ndarray:
    """timm's evaluation transform in PIL + numpy: shorter side to ``input_size / crop_pct`` (floored), centre
    crop to ``input_size``, scaled to [0, 1], normalised; CHW float32 (the same PIL resize torchvision calls)."""
    size = preprocessing["input_size"]
    size = size[-1] if isinstance(size, (list, tuple)) else size
    scale = math.floor(size / preprocessing["crop_pct"])
    width, height = image.size
    if width <= height:
        new = (scale, int(scale * height / width))
    else:
        new = (int(scale * width / height), scale)
    image = image.resize(new, RESAMPLING.get(preprocessing.get("interpolation", "bilinear"), 2))
    top, left = int(round((new[1] - size) / 2.0)), int(round((new[0] - size) / 2.0))
    image = image.crop((left, top, left + size, top + size))
    array = np.asarray(image, dtype=np.float32) / np.float32(255)
    array = (array - np.asarray(preprocessing["mean"], np.float32)) / np.asarray(preprocessing["std"], np.float32)
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def _classify_images(path: Path, info: dict, args) -> tuple[list[dict], object] | None:
    from graft.data.images import list_images, load_image
    from graft.deploy.runtime import onnx_session
    from graft.tasks.classification_output import format_predictions, ranked_predictions

    if getattr(args, "text", None) or not getattr(args, "inputs", None):
        return None
    config = info["config"]
    items = list_images(args.inputs)
    session = onnx_session(path, int(os.environ.get("GRAFT_THREADS", "0")) or None, info.get("engine"))
    name = info["inputs"][0]
    probabilities = []
    for i in range(0, len(items), BATCH):
        batch = np.stack([image_array(load_image(p), config["preprocessing"]) for p in items[i:i + BATCH]])
        logits = session.run(None, {name: batch})[0].astype(np.float64)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities.append(exp / exp.sum(axis=1, keepdims=True))
    return ranked_predictions(items, np.concatenate(probabilities), config["classes"], args.top_k), format_predictions


PREDICTORS = {"image-classification": _classify_images}
