"""Face embedders: an aligned RGB chip in, an identity descriptor out; near descriptors, same person.

Each zoo entry of family ``face`` builds one ``Embedder``. PyTorch ones (face-api's ResNet-34, FaceNet) can be
adapted to a user's people; dlib's runs through dlib and is used as it is.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from graft.errors import GraftError

# the usual "same person" distance of each model, for when too few impostor pairs are there to calibrate one
PUBLISHED_THRESHOLD = {"face-api": 0.6, "dlib-resnet": 0.6, "facenet": 1.1}
DLIB_PIN = "dlib-bin"


class Embedder:
    """``embed(chips)``: (N, S, S, 3) uint8 aligned chips -> (N, D) float32 descriptors (Euclidean metric)."""

    def __init__(self, name: str, arch: str, input_size: int, dim: int, module: nn.Module | None = None,
                 mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), normalise: bool = False, run=None,
                 weights_source: str | None = None, weights_sha256: str | None = None):
        self.name, self.arch, self.input_size, self.dim = name, arch, input_size, dim
        self.module, self.normalise, self._run = module, normalise, run
        self.mean = torch.tensor(mean).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std).view(1, 3, 1, 1) * 255
        self.weights_source, self.weights_sha256 = weights_source, weights_sha256
        self.published_threshold = PUBLISHED_THRESHOLD[arch]

    @property
    def trainable(self) -> bool:
        return self.module is not None

    def tensor(self, chips: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.array(chips, dtype=np.float32)).permute(0, 3, 1, 2)
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Descriptors of preprocessed chips, with gradients where the module trains."""
        out = self.module(x)
        return torch.nn.functional.normalize(out, dim=1) if self.normalise else out

    def embed(self, chips: np.ndarray, batch_size: int = 32) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        if self._run is not None:
            return self._run(chips)
        self.module.eval()
        out = []
        with torch.inference_mode():
            for start in range(0, len(chips), batch_size):
                out.append(self.forward(self.tensor(chips[start:start + batch_size])).float().numpy())
        return np.concatenate(out)


def build_embedder(name: str, weights: str | Path | None = "pretrained") -> Embedder:
    """The zoo's face embedder ``name`` with pretrained weights (offline-first), a given file, or None (random)."""
    from graft.backbones import get_cfg, resolve

    cfg = get_cfg(name)
    if cfg.family != "face":
        raise GraftError(f"'{name}' is not a face embedder: see `graft models --task faces`")
    resolved = None if weights is None else resolve(cfg, None if weights == "pretrained" else weights)
    resolved = _converted(cfg, resolved)
    prep = cfg.preprocessing
    common = dict(name=name, arch=cfg.arch, input_size=prep.input_size, dim=cfg.feature_dim, mean=prep.mean,
                  std=prep.std, weights_source=resolved.source if resolved else None,
                  weights_sha256=resolved.sha256 if resolved else None)
    if cfg.arch == "dlib-resnet":
        if resolved is None:
            raise GraftError("dlib's embedder has no random initialisation: it runs dlib's own trained model")
        return Embedder(**common, run=_dlib_runner(resolved.location))
    module = _face_api(cfg, resolved) if cfg.arch == "face-api" else _facenet(resolved)
    return Embedder(**common, module=module, normalise=cfg.arch == "facenet")


def _face_api(cfg, resolved) -> nn.Module:
    from graft.backbones.weights import read_state_dict
    from graft.faces.face_api import FaceRecognitionNet

    net = FaceRecognitionNet()
    if resolved is not None:
        net.load_state_dict(read_state_dict(resolved.location))
    return net.eval()


def _converted(cfg, resolved):
    """Where the weights actually loaded live: a TF.js download is converted into the cache first."""
    from graft.backbones.weights import ResolvedWeights, cache_location, file_sha256
    from graft.faces.face_api import cached_weights

    if cfg.arch != "face-api" or resolved is None or resolved.location.suffix != ".bin":
        return resolved
    path = cached_weights(resolved.location.parent, cache_location(cfg))
    return ResolvedWeights(path, f"{resolved.source}, converted", file_sha256(path))


def _facenet(resolved) -> nn.Module:
    try:
        from facenet_pytorch import InceptionResnetV1
    except ImportError:
        raise GraftError("FaceNet needs facenet-pytorch: pip install --no-deps facenet-pytorch==2.6.0") from None
    from graft.backbones.weights import read_state_dict

    net = InceptionResnetV1(pretrained=None, classify=False)
    if resolved is not None:
        state = {k: v for k, v in read_state_dict(resolved.location).items() if not k.startswith("logits.")}
        net.load_state_dict(state)
    return net.eval()


def _dlib_runner(path: Path):
    try:
        import dlib
    except ImportError:
        raise GraftError(f"dlib's embedder needs dlib: pip install {DLIB_PIN}") from None
    model = dlib.face_recognition_model_v1(str(path))

    def run(chips: np.ndarray) -> np.ndarray:
        return np.asarray([np.asarray(model.compute_face_descriptor(np.ascontiguousarray(c)), np.float32)
                           for c in chips], np.float32)
    return run
