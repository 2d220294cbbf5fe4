"""Question-answering data: SQuAD v1.1 / v2.0 JSON, JSONL or CSV with ``question, context, answer``.

Every example keeps its answers as character spans of its context. Where a row gives an answer's text but not
its start, the start is found by search; an answer that is not in its context, or that occurs there more than
once without a start to tell which, is reported by file and line and the row skipped (or, with
``on_bad="error"``, every problem is listed and the read stops). An empty answer marks an unanswerable question (SQuAD v2).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from graft.data.common import read_utf8_or_latin1
from graft.errors import DataError

REQUIRED = ("question", "context")


@dataclass
class Answer:
    text: str
    start: int  # character offset in the context


@dataclass
class QAExample:
    id: str
    question: str
    context: str
    answers: list[Answer] = field(default_factory=list)  # empty: no answer in the context (SQuAD v2)
    title: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass
class QAData:
    source: str
    examples: list[QAExample]
    skipped: list[str] = field(default_factory=list)  # "file:line: reason"

    def __len__(self) -> int:
        return len(self.examples)

    def report(self) -> dict:
        return {"examples": len(self.examples), "unanswerable": sum(not e.answerable for e in self.examples),
                "contexts": len({e.context for e in self.examples}), "skipped": len(self.skipped),
                "skipped_examples": self.skipped[:20]}


def locate(answer: str, context: str, start: int | None, where: str) -> Answer:
    """The answer's span in the context: ``start`` checked, or found by search when it is absent."""
    if not answer.strip():
        raise DataError(f"{where}: empty answer text (leave the answers out for an unanswerable question)")
    if start is not None:
        if context[start:start + len(answer)] == answer:
            return Answer(answer, start)
        raise DataError(f"{where}: answer {_short(answer)} is not at character {start} of its context")
    first = context.find(answer)
    if first < 0:
        raise DataError(f"{where}: answer {_short(answer)} does not occur in its context")
    if context.find(answer, first + 1) >= 0:
        raise DataError(f"{where}: answer {_short(answer)} occurs {context.count(answer)} times in its context: "
                        "give answer_start to say which")
    return Answer(answer, first)


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def read_qa(source: str | Path, on_bad: str = "skip", locate_answers: bool = True) -> QAData:
    """Read a SQuAD JSON file, a JSONL file or a CSV file of questions, contexts and answers."""
    path = Path(source)
    if not path.is_file():
        raise DataError(f"{path}: not found (give a SQuAD .json, a .jsonl or a .csv file)")
    suffix = path.suffix.lower()
    if suffix == ".json":
        rows = _squad_rows(path)
    elif suffix == ".jsonl":
        rows = _jsonl_rows(path)
    elif suffix in (".csv", ".tsv"):
        rows = _csv_rows(path, "\t" if suffix == ".tsv" else ",")
    else:
        raise DataError(f"{path}: unknown question-answering format (expected .json SQuAD, .jsonl or .csv)")
    data = QAData(str(path), [])
    seen: set[str] = set()
    for where, row in rows:
        try:
            example = _example(row, where, locate_answers)
        except DataError as exc:
            data.skipped.append(str(exc))
            continue
        if example.id in seen:
            example.id = f"{example.id}-{len(data.examples)}"
        seen.add(example.id)
        data.examples.append(example)
    if data.skipped and on_bad == "error":
        listed = "\n  ".join(data.skipped[:10]) + (f"\n  ... and {len(data.skipped) - 10} more"
                                                  if len(data.skipped) > 10 else "")
        raise DataError(f"{path}: {len(data.skipped)} unusable question(s) (--on-bad-file skip trains without "
                        f"them):\n  {listed}")
    if not data.examples:
        reason = f" ({data.skipped[0]})" if data.skipped else ""
        raise DataError(f"{path}: no usable question{reason}")
    return data


def _example(row: dict, where: str, locate_answers: bool) -> QAExample:
    if "_error" in row:
        raise DataError(f"{where}: {row['_error']}")
    for key in REQUIRED:
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise DataError(f"{where}: '{key}' is missing or empty")
    context = row["context"]
    answers = []
    if locate_answers:
        for text, start in row.get("answers", []):
            answers.append(locate(text, context, start, where))
        if not answers and not row.get("unanswerable"):
            raise DataError(f"{where}: no answer (mark unanswerable questions with is_impossible, or an empty "
                            "answers list in SQuAD v2)")
    return QAExample(str(row.get("id") or where), row["question"].strip(), context, answers, row.get("title", ""))


def _squad_rows(path: Path):
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise DataError(f"{path}: not SQuAD JSON (expected {{\"data\": [{{\"paragraphs\": ...}}]}})")
    for a, article in enumerate(doc["data"]):
        for p, paragraph in enumerate(article.get("paragraphs", [])):
            for q, qa in enumerate(paragraph.get("qas", [])):
                where = f"{path}: data[{a}].paragraphs[{p}].qas[{q}]"
                answers = [(ans.get("text", ""), ans.get("answer_start")) for ans in qa.get("answers", [])]
                yield where, {"id": qa.get("id"), "question": qa.get("question"), "title": article.get("title", ""),
                              "context": paragraph.get("context"), "answers": answers,
                              "unanswerable": bool(qa.get("is_impossible")) or not answers}


def _jsonl_rows(path: Path):
    with path.open(encoding="utf-8") as handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                row = json.loads(line)
            except ValueError as exc:
                yield where, {"_error": f"not JSON ({exc})"}
                continue
            yield where, _flat_row(row if isinstance(row, dict) else {})


def _csv_rows(path: Path, delimiter: str):
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        missing = [k for k in (*REQUIRED, "answer") if k not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)} (expected question, context, answer "
                            "and optionally answer_start, id)")
        for n, row in enumerate(reader, 2):
            yield f"{path}:{n}", _flat_row(row)


def _flat_row(row: dict) -> dict:
    """A JSONL/CSV row (``answer`` text or ``answers`` SQuAD-style, optional ``answer_start``) in one shape."""
    if isinstance(row.get("answers"), dict):  # the Hugging Face datasets layout: {"text": [...], "answer_start": [...]}
        texts, starts = row["answers"].get("text", []), row["answers"].get("answer_start", [])
        answers = list(zip(texts, list(starts) + [None] * (len(texts) - len(starts))))
    else:
        answer = row.get("answer")
        start = row.get("answer_start")
        start = int(start) if isinstance(start, (int, str)) and str(start).strip().lstrip("-").isdigit() else None
        answers = [(answer, start)] if isinstance(answer, str) and answer.strip() else []
    return {"id": row.get("id"), "question": row.get("question"), "context": row.get("context"),
            "answers": answers, "unanswerable": not answers}


def read_documents(source: str | Path) -> list[tuple[str, str]]:
    """(name, text) for a text or a ``.txt`` file or a folder of ``.txt`` files (the contexts to answer from)."""
    path = Path(source)
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except OSError:  # a long text is not a file name
        is_dir = is_file = False
    if is_dir:
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise DataError(f"{path}: no .txt documents in this folder")
        return [(str(p), read_utf8_or_latin1(p)) for p in files]
    if is_file:
        return [(str(path), read_utf8_or_latin1(path))]
    return [("context", str(source))]

