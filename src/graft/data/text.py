"""Text datasets: CSV, TSV, JSON Lines, plain .txt (one text per line) or a folder of class sub-folders of .txt."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from graft.data.common import (
    Sample,
    class_folders,
    data_error,
    find_column,
    iter_lines,
    listing,
    read_json_records,
    read_table,
    read_text_file,
    walk_files,
)
from graft.errors import DataError

TEXT_COLUMNS = ("text", "sentence", "review", "content", "document", "body")
LABEL_COLUMNS = ("label", "category", "class", "target", "sentiment", "topic")
_FORMATS = "a .csv, .tsv, .jsonl/.json, .txt, or a folder of class sub-folders of .txt files"

# (where, text, label): where is a line number, or a file path for folder datasets
_Record = tuple[int | str, str | None, str | None]


@dataclass
class TextDataset:
    """Texts with their labels (None when unlabeled) and a report of what was read.

    report: {"rows": data rows read, "empty_texts": line numbers skipped for an empty text,
    "text_col": column used, "label_col": column used or None}; folder datasets add "empty_files".
    """

    texts: list[str]
    labels: list[str | None]
    source: Path
    report: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def samples(self) -> list[Sample]:
        """The dataset as Sample(text, label) items."""
        return [Sample(t, y) for t, y in zip(self.texts, self.labels)]


def read_text_dataset(
    source: str | Path,
    text_col: str | None = None,
    label_col: str | None = None,
    require_labels: bool = True,
) -> TextDataset:
    """Read a text dataset; columns are detected from TEXT_COLUMNS/LABEL_COLUMNS unless named explicitly.

    Empty texts are skipped (their lines go to report["empty_texts"]); every other problem raises DataError
    naming the file and line.
    """
    path = Path(source).expanduser()
    suffix = path.suffix.lower()
    if path.is_dir():
        records, problems, report = _read_folder(path)
    elif not path.exists():
        raise DataError(f"{path}: not found (expected {_FORMATS})")
    elif suffix in (".csv", ".tsv"):
        delimiter = "\t" if suffix == ".tsv" else ","
        records, problems, report = _read_table(path, delimiter, text_col, label_col, require_labels)
    elif suffix in (".jsonl", ".json"):
        records, problems, report = _read_json(path, text_col, label_col, require_labels)
    elif suffix == ".txt":
        records, problems, report = _read_lines(path, require_labels)
    else:
        raise DataError(f"{path}: unsupported file type '{path.suffix}' (expected {_FORMATS})")
    return _build(path, records, problems, report, require_labels)


def _read_table(path: Path, delimiter: str, text_col, label_col, require_labels):
    header, rows, problems = read_table(path, delimiter)
    text_at, label_at, column_problems, report = _columns(header, text_col, label_col, require_labels)
    if column_problems:
        return [], problems + column_problems, report
    records: list[_Record] = [
        (n, row[text_at] if row else None, row[label_at] if row and label_at is not None else None) for n, row in rows
    ]
    return records, problems, report


def _read_json(path: Path, text_col, label_col, require_labels):
    objects, problems = read_json_records(path)
    keys = list(dict.fromkeys(k for _, obj in objects for k in obj))
    text_at, label_at, column_problems, report = _columns(keys, text_col, label_col, require_labels)
    if column_problems:
        return [], problems + column_problems, report
    text_key, label_key = keys[text_at], None if label_at is None else keys[label_at]
    records: list[_Record] = [
        (n, _as_text(obj.get(text_key)), None if label_key is None else _as_text(obj.get(label_key)))
        for n, obj in objects
    ]
    return records, problems, report


def _read_lines(path: Path, require_labels: bool):
    if require_labels:
        raise DataError(
            f"{path}: a .txt file holds one unlabeled text per line; for labelled data use a CSV/TSV/JSONL "
            "with text and label columns, or a folder with one sub-folder of .txt files per class"
        )
    records: list[_Record] = [(n, line.rstrip("\r\n"), None) for n, line in enumerate(iter_lines(path), 1)]
    return records, [], {"text_col": None, "label_col": None}


def _read_folder(root: Path):
    problems: list[str] = []
    records: list[_Record] = []
    folders = class_folders(root)
    if not folders:
        problems.append("has no class sub-folders; put each class's .txt files in its own sub-folder")
    for folder in folders:
        files = walk_files(folder, {".txt"}, problems)
        if not files:
            problems.append(f"class folder '{folder.name}' ({folder}) has no .txt files")
        records += [(str(f), read_text_file(f), folder.name) for f in files]
    return records, problems, {"text_col": None, "label_col": None}


def _columns(columns: list[str], text_col, label_col, require_labels):
    """(text index, label index or None, problems, report) for a header or JSON keys."""
    found = ", ".join(columns) or "(none)"
    hint = "; is the file delimited by ';' or tabs? .csv must use commas, .tsv tabs" if any(
        ";" in c or "\t" in c for c in columns
    ) else ""
    problems = []
    text = find_column(columns, (text_col,) if text_col else TEXT_COLUMNS)
    label = find_column(columns, (label_col,) if label_col else LABEL_COLUMNS)
    if text is None:
        wanted = f"no text column '{text_col}'" if text_col else "cannot tell which column holds the text"
        problems.append(f"{wanted} (found columns: {found}{hint}); pass --text-col NAME")
    if label is None and (require_labels or label_col):
        wanted = f"no label column '{label_col}'" if label_col else "cannot tell which column holds the labels"
        problems.append(f"{wanted} (found columns: {found}{hint}); pass --label-col NAME")
    if text is not None and text == label:
        problems.append(f"the text and label columns are the same ('{text}')")
    report = {"text_col": text, "label_col": label}
    if problems:
        return None, None, problems, report
    return columns.index(text), None if label is None else columns.index(label), [], report


def _as_text(value: object) -> str | None:
    return None if value is None else value if isinstance(value, str) else str(value)


def _build(path: Path, records: list[_Record], problems: list[str], report: dict, require_labels: bool) -> TextDataset:
    """Skip empty texts, check labels and classes, and assemble the TextDataset (or raise one DataError)."""
    texts, labels, empty, unlabeled = [], [], [], []
    labelled = report.get("label_col") is not None or path.is_dir()
    for where, text, label in records:
        label = (label.strip() or None) if label is not None else None
        if text is None or not text.strip():
            empty.append(where)
        elif label is None and labelled and require_labels:
            unlabeled.append(where)
        else:
            texts.append(text)
            labels.append(label)
    if unlabeled:
        problems.append(f"missing label on {len(unlabeled)} row(s): line(s) {listing(unlabeled)}")
    if not texts and not problems:
        problems.append("contains no texts")
    classes = sorted({y for y in labels if y is not None})
    if require_labels and texts and len(classes) < 2:
        problems.append(f"needs at least 2 classes, found {len(classes)}: {', '.join(classes)}")
    if problems:
        raise data_error(path, problems)
    key = "empty_files" if path.is_dir() else "empty_texts"
    report = {"rows": len(records), "empty_texts": [], **report, key: empty}
    return TextDataset(texts, labels, path, report)
