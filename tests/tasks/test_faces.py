"""Face recognition on real photos (the built-in `faces` set): enroll / predict / verify / evaluate through the
API and the CLI, unknown faces, photos without a face, save -> load, enrolling more, and adaptation."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import graft
import numpy as np
import pytest
import torch
from graft.errors import DataError
from graft.tasks.faces import UNKNOWN, FaceRecognizer

pytest.importorskip("facenet_pytorch")


@pytest.fixture(scope="session")
def faces(tmp_path_factory):
    from graft import datasets

    return datasets.faces(tmp_path_factory.mktemp("faces"))


@pytest.fixture
def gallery(faces):
    return FaceRecognizer().fit(faces / "people")


def _cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "graft.cli", *map(str, args)], capture_output=True, text=True,
                            env={**os.environ, "GRAFT_OFFLINE": "1", "GRAFT_QUIET": "1"})
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_every_face_found_and_matched_to_its_person_only(faces, gallery):
    assert gallery.strategy_used == "enroll" and sorted(set(gallery.names)) == ["biden", "eileen_collins", "obama"]
    results = {os.path.basename(r["input"]): r["faces"] for r in gallery.predict(faces / "probe")}
    for name in ("obama2.jpg", "obama_partial_face2.jpg"):
        assert [f["name"] for f in results[name]] == ["obama"], results[name]
        assert results[name][0]["distance"] < results[name][0]["threshold"]
    assert results["chelsea.png"] == [] and results["coffee.png"] == []
    # leave-one-out over the enrolled photos: obama's photos find obama; biden and eileen_collins have no other
    # photo, so no one else may claim them
    report = gallery.evaluate(faces / "people")
    assert report["rank1_accuracy"] == 1.0 and report["open_set_false_accept_rate"] == 0.0
    assert report["verification"]["accuracy"] == 1.0


def test_no_face_is_found_where_there_is_none(faces, gallery):
    results = gallery.predict(faces / "no_faces")
    assert len(results) == 102 and all(r["faces"] == [] for r in results)


def test_an_unenrolled_person_is_unknown(faces, tmp_path):
    people = tmp_path / "people"
    shutil.copytree(faces / "people", people)
    shutil.rmtree(people / "biden")
    model = FaceRecognizer().fit(people)
    [result] = model.predict(faces / "people" / "biden")
    assert [f["name"] for f in result["faces"]] == [UNKNOWN]
    assert result["faces"][0]["nearest"] in ("obama", "eileen_collins")


def test_photos_without_one_face_are_reported_not_fatal(faces, tmp_path):
    people = tmp_path / "people"
    shutil.copytree(faces / "people", people)
    shutil.copy(faces / "no_faces" / "chelsea.png", people / "obama" / "cat.png")
    (people / "biden" / "broken.jpg").write_bytes(b"not an image")
    model = FaceRecognizer().fit(people)
    check = model.run_report["data_check"]
    assert check["no_face"] == [str(people / "obama" / "cat.png")]
    assert check["unreadable"] == [str(people / "biden" / "broken.jpg")]
    assert model.run_report["enrolled"] == 5


def test_save_load_gives_identical_decisions(faces, gallery, tmp_path):
    gallery.save(tmp_path / "g")
    loaded = graft.load(tmp_path / "g")
    assert loaded.names == gallery.names and loaded.threshold == gallery.threshold
    assert np.array_equal(loaded.embeddings, gallery.embeddings)
    assert loaded.predict(faces / "probe") == gallery.predict(faces / "probe")
    config = json.loads((tmp_path / "g" / "config.json").read_text())
    assert config["embedder"]["name"] == "face_api_resnet34" and "photos" not in config


def test_enrolling_more_people_leaves_the_others_untouched(faces, tmp_path):
    first = tmp_path / "first"
    shutil.copytree(faces / "people", first, ignore=shutil.ignore_patterns("biden*"))
    model = FaceRecognizer().fit(first)
    before = model.embeddings.copy()
    model.enroll(faces / "people")  # biden is new; the others are already in the gallery
    assert model.run_report["added"] == 1 and model.run_report["already_enrolled"] == 4
    assert np.array_equal(model.embeddings[:len(before)], before)
    assert model.names[-1] == "biden"


def test_verify_two_photos(faces, gallery):
    same = gallery.verify(faces / "probe" / "obama2.jpg", faces / "people" / "obama" / "obama3.jpg")
    other = gallery.verify(faces / "probe" / "obama2.jpg", faces / "people" / "biden" / "biden.jpg")
    assert same["same_person"] and not other["same_person"] and same["distance"] < other["distance"]
    with pytest.raises(DataError, match="no face found"):
        gallery.verify(faces / "probe" / "obama2.jpg", faces / "probe" / "chelsea.png")


def test_pairs_file_evaluation(faces, gallery):
    report = gallery.evaluate(faces / "pairs.csv")
    assert report["kind"] == "verification" and report["pairs"] == 21 and report["genuine_pairs"] == 10
    # pairs of two partial faces of one man are the hard ones (measured: accuracy 0.857, ROC-AUC 0.991)
    assert report["accuracy"] > 0.8 and report["roc_auc"] > 0.95 and report["no_face"] == []


def test_cli_fit_predict_verify_evaluate_add_to(faces, tmp_path):
    out = tmp_path / "gallery"
    first = tmp_path / "first"
    shutil.copytree(faces / "people", first, ignore=shutil.ignore_patterns("eileen*"))
    fit = _cli("fit", first, "--task", "faces", "--out", out)
    assert "threshold" in fit.stdout
    predicted = json.loads(_cli("predict", out, faces / "probe", "--json", "--draw", tmp_path / "drawn",
                                "--csv", tmp_path / "attendance.csv").stdout)
    assert [f["name"] for r in predicted for f in r["faces"]] == ["obama", "obama"]
    assert len(list((tmp_path / "drawn").glob("*.png"))) == 4
    rows = list(csv.DictReader(open(tmp_path / "attendance.csv")))
    assert [r["name"] for r in rows] == ["obama", "obama"] and set(rows[0]) == {"file", "name", "distance", "taken"}
    verdict = _cli("predict", out, "--verify", faces / "probe" / "obama2.jpg", faces / "people" / "biden" / "biden.jpg")
    assert "different people" in verdict.stdout
    assert "ROC-AUC" in _cli("evaluate", out, faces / "pairs.csv").stdout
    _cli("fit", faces / "people", "--task", "faces", "--add-to", out, "--out", tmp_path / "more")
    assert "eileen_collins" in graft.load(tmp_path / "more").names


def test_cli_bad_people_folder_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _cli("fit", tmp_path / "empty", "--task", "faces", "--out", tmp_path / "o", check=False)
    assert result.returncode == 2 and "no photos found" in result.stderr and "Traceback" not in result.stderr


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_fine_tune_moves_only_the_groups_it_unfreezes(faces):
    model = FaceRecognizer(strategy="fine-tune", unfreeze=1, epochs=2, patience=0)
    from graft.faces.embedders import build_embedder

    pretrained = {k: v.clone() for k, v in build_embedder("face_api_resnet34").module.state_dict().items()}
    model.fit(faces / "people")
    after = model.embedder.module.state_dict()
    assert _changed(pretrained, after) <= {"fc.weight"}
    adaptation = model.run_report["adaptation"]
    assert adaptation["strategy"] == "fine-tune" and adaptation["before"] is not None


def test_feature_extraction_trains_a_head_and_keeps_the_embedder(faces, tmp_path):
    from graft.faces.embedders import build_embedder

    pretrained = build_embedder("face_api_resnet34").module.state_dict()
    model = FaceRecognizer(strategy="feature-extraction", epochs=3, patience=0).fit(faces / "people")
    assert not _changed(pretrained, model.embedder.module.state_dict())
    assert model.head is not None
    model.save(tmp_path / "g")
    loaded = graft.load(tmp_path / "g")
    assert torch.equal(loaded.head.weight, model.head.weight)
    assert loaded.predict(faces / "probe") == model.predict(faces / "probe")


def test_dlib_embedder_enrolls_and_matches(faces):
    pytest.importorskip("dlib")
    model = FaceRecognizer("dlib_resnet_v1").fit(faces / "people")
    results = {os.path.basename(r["input"]): r["faces"] for r in model.predict(faces / "probe")}
    assert [f["name"] for f in results["obama2.jpg"]] == ["obama"]
