"""Shared by the image and text readers: Sample, UTF-8 lines with line numbers, CSV/JSONL records, folder walks."""
from __future__ import annotations

import codecs
import csv
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from graft.errors import DataError

MAX_LISTED = 10
_FIELD_LIMIT = 2**31 - 1  # fits a C long everywhere; texts of several MB must parse


@dataclass(frozen=True)
class Sample:
    """One item of a dataset: an image path or a text, with its class name (None when unlabeled)."""

    input: Path | str
    label: str | None


def listing(items: Iterable[object], limit: int = MAX_LISTED) -> str:
    """'a, b, c ... and N more': the first `limit` items and a count of the rest."""
    items = list(items)
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" ... and {len(items) - limit} more" if len(items) > limit else "")


def data_error(subject: object, problems: Sequence[str], as_list: bool = False) -> DataError:
    """One DataError for `subject` naming every problem (one per line when there are several, or `as_list`)."""
    if len(problems) == 1 and not as_list:
        return DataError(f"{subject}: {problems[0]}")
    count = f" {len(problems)} problems" if len(problems) > 1 and not as_list else ""
    return DataError(f"{subject}:{count}\n" + "\n".join(f"  - {p}" for p in problems))


def iter_lines(path: Path) -> Iterator[str]:
    """Decoded lines of a UTF-8 file (BOM dropped, line endings kept); DataError names the first bad line."""
    try:
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                if number == 1:
                    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                        raise DataError(f"{path} is UTF-16 encoded; re-save it as UTF-8")
                    raw = raw.removeprefix(codecs.BOM_UTF8)
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    column = len(raw[: e.start].decode("utf-8", "replace")) + 1
                    raise DataError(
                        f"{path}, line {number}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {column}); "
                        "re-save the file as UTF-8"
                    ) from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


def read_text_file(path: Path) -> str:
    """The whole content of a UTF-8 text file (DataError with the line of the first bad byte)."""
    return "".join(iter_lines(path))


def read_table(path: Path, delimiter: str = ",") -> tuple[list[str], list[tuple[int, list[str]]], list[str]]:
    """(header, [(line, fields)], problems) of a CSV/TSV; blank lines come back as (line, []).

    Line numbers are 1-based with the header on line 1 (a quoted multi-line field counts from its first line).
    Rows whose field count differs from the header's are left out and described in `problems`.
    """
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    reader = csv.reader(iter_lines(path), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    bad: list[str] = []
    end = 0
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num
            if header is None:
                if fields:
                    header = [h.strip() for h in fields]
            elif not fields or len(fields) == len(header):
                rows.append((start, fields))
            else:
                kind = "missing fields" if len(fields) < len(header) else "extra fields"
                bad.append(f"line {start} ({len(fields)} instead of {len(header)}: {kind})")
    except csv.Error as e:
        raise DataError(f"{path}, line {reader.line_num}: malformed {_kind(delimiter)} ({e})") from None
    if header is None:
        raise DataError(f"{path} is empty: expected a header line naming the columns")
    problems = []
    if bad:
        hint = "; quote fields that contain the delimiter" if any("extra" in b for b in bad) else ""
        problems.append(
            f"{len(bad)} row(s) do not have the {len(header)} fields of the header ({', '.join(header)}): "
            f"{listing(bad)}{hint}"
        )
    return header, rows, problems


def _kind(delimiter: str) -> str:
    return "TSV" if delimiter == "\t" else "CSV"


def read_json_records(path: Path) -> tuple[list[tuple[int, dict]], list[str]]:
    """([(number, object)], problems) of a JSON Lines file; a .json holding one array is accepted too.

    Numbers are 1-based line numbers (item positions for a JSON array); blank lines are skipped.
    """
    lines = list(iter_lines(path))
    if path.suffix.lower() == ".json" and "".join(lines).lstrip().startswith("["):
        return _read_json_array(path, "".join(lines))
    records, bad, problems = [], [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as e:
            bad.append(f"line {number} ({getattr(e, 'msg', 'too deeply nested')})")
            continue
        if isinstance(obj, dict):
            records.append((number, obj))
        else:
            bad.append(f"line {number} (a JSON {type(obj).__name__}, not an object)")
    if bad:
        problems.append(f"expected one JSON object per line; invalid: {listing(bad)}")
    return records, problems


def _read_json_array(path: Path, text: str) -> tuple[list[tuple[int, dict]], list[str]]:
    try:
        items = json.loads(text)
    except (ValueError, RecursionError) as e:
        where = f", line {e.lineno}" if isinstance(e, json.JSONDecodeError) else ""
        raise DataError(f"{path}{where}: invalid JSON ({getattr(e, 'msg', 'too deeply nested')})") from None
    records = [(i, obj) for i, obj in enumerate(items, 1) if isinstance(obj, dict)]
    bad = [f"item {i}" for i, obj in enumerate(items, 1) if not isinstance(obj, dict)]
    return records, ([f"array items that are not JSON objects: {listing(bad)}"] if bad else [])


def find_column(columns: Sequence[str], names: Sequence[str]) -> str | None:
    """The first column matching one of `names` (in the order of `names`): exact match first, then case-insensitive."""
    for name in names:
        if name in columns:
            return name
        for column in columns:
            if column.strip().lower() == name.strip().lower():
                return column
    return None


def class_folders(root: Path) -> list[Path]:
    """Non-hidden sub-folders of `root` (symlinked ones included), sorted by name."""
    try:
        entries = sorted(root.iterdir())
    except OSError as e:
        raise DataError(f"{root}: cannot list folder ({e.strerror or e})") from None
    return [p for p in entries if not p.name.startswith(".") and p.is_dir()]


def walk_files(root: Path, extensions: Iterable[str], problems: list[str]) -> list[Path]:
    """Non-hidden files under `root` whose lower-cased suffix is in `extensions`, sorted.

    `root` itself may be a symlink, but symlinked folders below it are not followed (no loops, and no class
    absorbing another's files); file symlinks are listed. Unreadable folders are described in `problems`.
    """
    extensions = frozenset(extensions)
    found: list[Path] = []

    def unreadable(e: OSError) -> None:
        problems.append(f"{e.filename}: cannot list folder ({e.strerror or e})")

    for folder, dirnames, filenames in os.walk(root, followlinks=False, onerror=unreadable):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [
            Path(folder, f)
            for f in sorted(filenames)
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in extensions
        ]
    return found


def read_utf8_or_latin1(path: Path) -> str:
    """A text file as UTF-8, or Latin-1 where it is not UTF-8 (older corpora such as the BBC articles)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")
