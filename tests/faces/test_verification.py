"""The threshold calibration rule on constructed distances, and the verification figures."""
from __future__ import annotations

import numpy as np
import pytest
from graft.faces.verification import calibrate, gallery_pairs, verification_report


def test_empirical_threshold_accepts_exactly_far_times_n_impostors():
    impostor = np.linspace(0.5, 1.5, 2000)  # sorted; far 1e-3 of 2000 = 2 accepted
    result = calibrate(np.full(10, 0.3), impostor, far=1e-3, published=0.6)
    assert result["threshold"] == pytest.approx((impostor[1] + impostor[2]) / 2)
    assert result["far_measured"] == pytest.approx(2 / 2000)
    assert result["method"].startswith("empirical")


def test_too_few_impostors_use_the_published_threshold_capped_by_the_closest_impostor():
    assert calibrate(np.array([0.3]), np.array([0.9, 0.7]), 1e-3, 0.6)["threshold"] == 0.6
    capped = calibrate(np.array([0.3]), np.array([0.9, 0.45]), 1e-3, 0.6)
    assert capped["threshold"] == 0.45 and capped["far_measured"] == 0.0
    assert "too few" in capped["method"]


def test_one_person_gets_the_published_threshold():
    result = calibrate(np.array([0.2, 0.3]), np.array([]), 1e-3, 0.6)
    assert result["threshold"] == 0.6 and result["impostor_pairs"] == 0


def test_gallery_pairs_split_by_person():
    emb = np.array([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    genuine, impostor = gallery_pairs(emb, ["a", "a", "b"])
    assert genuine.tolist() == [1.0] and sorted(impostor.tolist()) == pytest.approx([3.0, np.sqrt(10)])


def test_verification_report_figures():
    distances = np.array([0.2, 0.3, 0.5, 0.7, 0.9, 1.0])
    same = np.array([True, True, True, False, False, False])
    report = verification_report(distances, same, threshold=0.6)
    assert report["accuracy"] == 1.0 and report["roc_auc"] == 1.0 and report["eer"] == 0.0
    worse = verification_report(distances, same, threshold=0.4)
    assert worse["accuracy"] == pytest.approx(5 / 6) and worse["tar"] == pytest.approx(2 / 3)
