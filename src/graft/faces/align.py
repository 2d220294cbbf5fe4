"""Find faces with their five landmarks (MTCNN) and cut each out as an aligned chip for an embedder.

MTCNN comes from ``facenet-pytorch`` (MIT), whose package ships the three small networks' weights, so finding
faces never downloads anything. Alignment follows dlib's ``get_face_chip``: a similarity transform (rotation,
uniform scale, shift) that puts the eyes, nose tip and mouth corners where dlib's mean face has them, with 25 %
padding around the face. dlib's and face-api's embedders were trained on such chips.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from graft.errors import GraftError

FACENET_PIN = "facenet-pytorch==2.6.0"
# dlib's mean face (landmarks 36-41 and 42-47 averaged for the eye centres, 30 the nose tip, 48 and 54 the
# mouth corners), in a unit square around the face, in MTCNN's landmark order
MEAN_FACE = np.array([[0.225492, 0.215990], [0.754761, 0.215990], [0.490127, 0.515625],
                      [0.254149, 0.780233], [0.726104, 0.780233]])
CHIP_PADDING = 0.25


@dataclass
class Face:
    box: list[float]  # x1, y1, x2, y2 in the image's pixels
    score: float  # MTCNN's face probability
    landmarks: np.ndarray  # (5, 2): eyes (image left, right), nose tip, mouth corners


class FaceFinder:
    """MTCNN on a CPU or GPU; faces below ``min_score`` or smaller than ``min_size`` pixels are ignored."""

    def __init__(self, min_score: float = 0.9, min_size: int = 20, device=None):
        try:
            from facenet_pytorch import MTCNN
        except ImportError:
            raise GraftError(f"face detection needs facenet-pytorch: pip install --no-deps {FACENET_PIN} "
                             "(or pip install 'graft[faces]')") from None
        self.min_score = min_score
        self.mtcnn = MTCNN(keep_all=True, min_face_size=min_size, device=device, post_process=False)

    def find(self, image: Image.Image) -> list[Face]:
        """Every face in ``image`` (RGB), largest first."""
        import torch

        with torch.inference_mode():
            boxes, scores, points = self.mtcnn.detect(image, landmarks=True)
        if boxes is None:
            return []
        faces = [Face([round(float(v), 1) for v in box], round(float(score), 4), np.asarray(pts, dtype=np.float64))
                 for box, score, pts in zip(boxes, scores, points) if score >= self.min_score]
        return sorted(faces, key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity transform taking points ``src`` to ``dst`` (Umeyama, 1991)."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    u, s, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])  # a rotation, never a reflection
    rotation = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / src_c.var(0).sum()
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def chip_landmarks(size: int, padding: float = CHIP_PADDING) -> np.ndarray:
    """Where the landmarks sit in a ``size`` x ``size`` chip."""
    return (MEAN_FACE + padding) / (1 + 2 * padding) * size


def align(image: Image.Image, landmarks: np.ndarray, size: int, padding: float = CHIP_PADDING) -> np.ndarray:
    """The ``size`` x ``size`` RGB uint8 chip of the face with these landmarks."""
    matrix = similarity_transform(np.asarray(landmarks, dtype=np.float64), chip_landmarks(size, padding))
    scale = float(np.hypot(*matrix[:, 0]))
    # shrink large faces first with an area filter, as dlib's pyramid does: bilinear sampling alone aliases
    factor = int(1 / scale / 2) if scale < 0.5 else 1
    if factor > 1:
        image = image.reduce(factor)
        matrix = matrix.copy()
        matrix[:, :2] *= factor
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]  # PIL maps output pixels to input pixels
    chip = image.transform((size, size), Image.Transform.AFFINE, inverse.reshape(-1).tolist(),
                           resample=Image.Resampling.BILINEAR)
    return np.asarray(chip, dtype=np.uint8)
