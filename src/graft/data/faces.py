"""Face data: a people folder (``people/<name>/*.jpg``) and verification pairs files.

Pairs files: LFW's ``pairs.txt`` (a header line, then ``name n1 n2`` for the same person and
``name1 n1 name2 n2`` for two people, images at ``<folder>/<name>/<name>_<nnnn>.jpg`` beside the file), or a
CSV/TSV of ``path_a, path_b, same`` (same: 1/0, true/false; paths relative to the file).
"""
from __future__ import annotations

import csv
from pathlib import Path

from graft.data.common import data_error, walk_files
from graft.data.images import IMAGE_EXTENSIONS
from graft.errors import DataError


def read_people(root: str | Path) -> list[tuple[Path, str]]:
    """(photo, person) for every image in ``root/<person>/``, sorted; a clear error for any other layout."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: expected a folder of people (<folder>/<name>/*.jpg)")
    problems: list[str] = []
    photos = [(path, person.name) for person in sorted(p for p in root.iterdir() if p.is_dir()
                                                       and not p.name.startswith("."))
              for path in walk_files(person, IMAGE_EXTENSIONS, problems)]
    if problems:
        raise data_error(root, problems)
    if not photos:
        raise DataError(f"{root}: no photos found: expected one sub-folder per person holding their photos "
                        "(<folder>/<name>/*.jpg)")
    return photos


def is_pairs_file(path: str | Path) -> bool:
    return Path(path).is_file() and Path(path).suffix.lower() in (".txt", ".csv", ".tsv")


def read_pairs(path: str | Path) -> list[tuple[Path, Path, bool]]:
    """(photo a, photo b, same person) from a pairs file; every bad line named."""
    path = Path(path)
    base = path.parent
    rows, problems = [], []
    if path.suffix.lower() == ".txt":
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            fields = line.split()
            if not fields or (number == 1 and all(f.isdigit() for f in fields)):
                continue  # blank lines and LFW's "folds pairs" header
            try:
                if len(fields) == 3:
                    rows.append((_lfw(base, fields[0], fields[1]), _lfw(base, fields[0], fields[2]), True))
                elif len(fields) == 4:
                    rows.append((_lfw(base, fields[0], fields[1]), _lfw(base, fields[2], fields[3]), False))
                else:
                    problems.append(f"line {number}: expected 'name n1 n2' or 'name1 n1 name2 n2'")
            except ValueError:
                problems.append(f"line {number}: image numbers must be integers")
    else:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        with open(path, newline="", encoding="utf-8") as f:
            for number, fields in enumerate(csv.reader(f, delimiter=delimiter), 1):
                if not fields or (number == 1 and fields[-1].strip().lower() in ("same", "label", "match")):
                    continue
                same = fields[-1].strip().lower() if len(fields) == 3 else ""
                if same not in ("1", "0", "true", "false", "yes", "no"):
                    problems.append(f"line {number}: expected path_a, path_b, same (1/0)")
                    continue
                rows.append((base / fields[0].strip(), base / fields[1].strip(), same in ("1", "true", "yes")))
    missing = sorted({str(p) for a, b, _ in rows for p in (a, b) if not p.is_file()})
    problems += [f"{m}: not found" for m in missing]
    if problems:
        raise data_error(path, problems)
    if not rows:
        raise DataError(f"{path}: no pairs in this file")
    return rows


def _lfw(base: Path, name: str, number: str) -> Path:
    return base / name / f"{name}_{int(number):04d}.jpg"
