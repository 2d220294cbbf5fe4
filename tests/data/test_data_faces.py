"""People folders and pairs files: what is read, and one clear error for what is not."""
from __future__ import annotations

import pytest
from graft.data.faces import read_pairs, read_people
from graft.errors import DataError


def _photo(path):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(path)
    return path


def test_people_folder(tmp_path):
    _photo(tmp_path / "ann" / "1.jpg")
    _photo(tmp_path / "bob" / "2.png")
    (tmp_path / "notes.txt").write_text("x")
    assert [(p.name, n) for p, n in read_people(tmp_path)] == [("1.jpg", "ann"), ("2.png", "bob")]


def test_people_folder_errors(tmp_path):
    with pytest.raises(DataError, match="expected a folder of people"):
        read_people(tmp_path / "missing")
    with pytest.raises(DataError, match="no photos found"):
        read_people(tmp_path)


def test_lfw_pairs_format(tmp_path):
    _photo(tmp_path / "Ann" / "Ann_0001.jpg")
    _photo(tmp_path / "Ann" / "Ann_0002.jpg")
    _photo(tmp_path / "Bob" / "Bob_0001.jpg")
    (tmp_path / "pairs.txt").write_text("1\t2\nAnn\t1\t2\nAnn\t1\tBob\t1\n")
    pairs = read_pairs(tmp_path / "pairs.txt")
    assert [(a.name, b.name, s) for a, b, s in pairs] == [("Ann_0001.jpg", "Ann_0002.jpg", True),
                                                           ("Ann_0001.jpg", "Bob_0001.jpg", False)]


def test_csv_pairs_and_bad_lines_named(tmp_path):
    _photo(tmp_path / "a.jpg")
    _photo(tmp_path / "b.jpg")
    (tmp_path / "pairs.csv").write_text("path_a,path_b,same\na.jpg,b.jpg,1\na.jpg,b.jpg,maybe\na.jpg,c.jpg,0\n")
    with pytest.raises(DataError) as err:
        read_pairs(tmp_path / "pairs.csv")
    assert "line 3" in str(err.value) and "c.jpg: not found" in str(err.value)
