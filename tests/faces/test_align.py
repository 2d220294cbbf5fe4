"""Alignment: the similarity transform is exact on exact points, and chips put landmarks where dlib's mean face has them."""
from __future__ import annotations

import numpy as np
from graft.faces.align import align, chip_landmarks, similarity_transform
from PIL import Image


def test_similarity_transform_recovers_a_known_one():
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = np.random.default_rng(0).uniform(0, 100, (5, 2))
    dst = src @ (scale * rotation).T + shift
    matrix = similarity_transform(src, dst)
    assert np.allclose(matrix[:, :2], scale * rotation) and np.allclose(matrix[:, 2], shift)


def test_chip_puts_landmarks_on_the_template():
    # five bright dots at the template scaled x3 and shifted: the chip must show them at the template
    size, factor, offset = 150, 3.0, np.array([40.0, 25.0])
    points = chip_landmarks(size) * factor + offset
    canvas = np.zeros((600, 600, 3), np.uint8)
    for x, y in points.round().astype(int):
        canvas[y - 4:y + 5, x - 4:x + 5] = 255
    chip = align(Image.fromarray(canvas), points, size)
    for x, y in chip_landmarks(size).round().astype(int):
        assert chip[y, x].min() > 100, (x, y)
    assert chip.shape == (size, size, 3) and chip.dtype == np.uint8
