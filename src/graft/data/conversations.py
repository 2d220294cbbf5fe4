"""Data for generation and chat: plain texts, conversations, prompt/completion pairs.

- Plain text (``--task generation``): ``.txt`` files (a file or a folder of them: one document each), or a
  CSV / JSONL with a ``text`` column.
- Chat (``--task chat``): JSONL with ``{"messages": [{"role": ..., "content": ...}, ...]}``, or with
  ``prompt`` / ``completion`` fields (one user turn, one assistant turn).

Bad rows are reported by line and skipped with counts: unknown roles, empty turns, a conversation that does not
end with the assistant.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from graft.data.common import data_error, find_column, read_json_records, read_table, read_text_file, walk_files
from graft.errors import DataError

ROLES = ("system", "user", "assistant")


@dataclass
class Corpus:
    """Texts or conversations with what was skipped, by line."""

    source: str
    texts: list[str] = field(default_factory=list)
    conversations: list[list[dict]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.conversations) or len(self.texts)

    def report(self) -> dict:
        return {"source": self.source, "examples": len(self), "skipped": len(self.skipped),
                "skipped_rows": self.skipped[:50]}


def read_texts(source: str | Path) -> Corpus:
    path = Path(source)
    corpus = Corpus(str(path))
    if path.is_dir():
        problems: list[str] = []
        files = walk_files(path, (".txt",), problems)
        if problems:
            raise data_error(path, problems)
        corpus.texts = [t for t in (read_text_file(f).strip() for f in files) if t]
    elif path.suffix.lower() == ".txt":
        corpus.texts = [read_text_file(path).strip()] if read_text_file(path).strip() else []
    elif path.suffix.lower() in (".jsonl", ".json"):
        records, problems = read_json_records(path)
        if problems:
            raise data_error(path, problems)
        for number, obj in records:
            text = str(obj.get("text") or "").strip()
            (corpus.texts.append(text) if text else corpus.skipped.append(f"line {number}: empty or no 'text'"))
    elif path.suffix.lower() in (".csv", ".tsv"):
        header, rows, problems = read_table(path, "\t" if path.suffix.lower() == ".tsv" else ",")
        if problems:
            raise data_error(path, problems)
        column = find_column(header, ("text", "content", "document"))
        if column is None:
            raise DataError(f"{path}: no 'text' column (columns: {', '.join(header)})")
        index = header.index(column)
        for number, row in rows:
            text = row[index].strip() if index < len(row) else ""
            (corpus.texts.append(text) if text else corpus.skipped.append(f"line {number}: empty text"))
    else:
        raise DataError(f"{path}: expected .txt files, a folder of them, or a CSV/JSONL with a 'text' column")
    if not corpus.texts:
        raise DataError(f"{path}: no text to learn from")
    return corpus


def read_conversations(source: str | Path) -> Corpus:
    path = Path(source)
    if not path.is_file() or path.suffix.lower() not in (".jsonl", ".json"):
        raise DataError(f"{path}: expected a JSONL file of conversations ({{\"messages\": [...]}} or "
                        "{\"prompt\": ..., \"completion\": ...} per line)")
    records, problems = read_json_records(path)
    if problems:
        raise data_error(path, problems)
    corpus = Corpus(str(path))
    for number, obj in records:
        messages, problem = _messages(obj)
        if problem:
            corpus.skipped.append(f"line {number}: {problem}")
        else:
            corpus.conversations.append(messages)
    if not corpus.conversations:
        raise DataError(f"{path}: no usable conversation ({len(corpus.skipped)} skipped; first: "
                        f"{corpus.skipped[0] if corpus.skipped else 'none'})")
    return corpus


def _messages(obj: dict) -> tuple[list[dict], str | None]:
    if "messages" in obj:
        raw = obj["messages"]
        if not isinstance(raw, list) or not raw:
            return [], "'messages' must be a non-empty list"
        messages = []
        for i, m in enumerate(raw, 1):
            if not isinstance(m, dict):
                return [], f"message {i} is not an object"
            role, content = m.get("role"), m.get("content")
            if role not in ROLES:
                return [], f"message {i}: unknown role {role!r} (expected {', '.join(ROLES)})"
            if not isinstance(content, str) or not content.strip():
                return [], f"message {i}: empty content"
            messages.append({"role": role, "content": content})
    elif "prompt" in obj and "completion" in obj:
        prompt, completion = obj.get("prompt"), obj.get("completion")
        if not isinstance(prompt, str) or not prompt.strip() or not isinstance(completion, str) \
                or not completion.strip():
            return [], "empty prompt or completion"
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
    else:
        return [], "expected 'messages', or 'prompt' and 'completion'"
    if messages[-1]["role"] != "assistant":
        return [], "the conversation does not end with the assistant"
    if not any(m["role"] == "user" for m in messages):
        return [], "no user turn"
    return messages, None
