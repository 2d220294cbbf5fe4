"""The faces benchmark's pieces that run fast: the peer pipeline imports, and the report judges the target."""
from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from benchmarks import report  # noqa: E402


def test_face_recognition_imports_without_pkg_resources():
    pytest.importorskip("dlib")
    from benchmarks.faces import face_recognition_module

    fr = face_recognition_module()
    assert callable(fr.face_locations) and callable(fr.face_encodings)


def test_report_judges_the_speed_target():
    speed = {"photos": 7, "threads": 2, "rounds": 3,
             "faces_per_s": {"graft": 6.0, "face_recognition_cnn": 2.0},
             "faces_found": {"graft": 7, "face_recognition_cnn": 7},
             "speedup_vs_face_recognition_cnn": {"graft": 3.0, "face_recognition_cnn": 1.0}}
    text = "\n".join(report._faces_markdown({"speed": speed}))
    assert "**PASS** (3.00x)" in text and "| 6 | 3.00x | 7 |" in text
    slow = {**speed, "speedup_vs_face_recognition_cnn": {"graft": 1.5, "face_recognition_cnn": 1.0}}
    assert "**MISS**" in "\n".join(report._faces_markdown({"speed": slow}))
    assert report._faces_markdown({"speed": {"error": "boom"}})[-1] == "Not measured: boom"
