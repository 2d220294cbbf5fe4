"""Chat and plain-text data: what is read, and bad rows reported by line with counts."""
from __future__ import annotations

import json

import pytest
from graft.data.conversations import read_conversations, read_texts
from graft.errors import DataError


def test_conversations_and_bad_rows(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
            {"prompt": "2+2?", "completion": "4"},
            {"messages": [{"role": "user", "content": "Hi"}]},
            {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]},
            {"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "y"}]},
            {"text": "no chat here"}]
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    corpus = read_conversations(path)
    assert len(corpus.conversations) == 2 and corpus.conversations[1][1] == {"role": "assistant", "content": "4"}
    assert [s.split(":")[0] for s in corpus.skipped] == ["line 3", "line 4", "line 5", "line 6"]
    assert "does not end with the assistant" in corpus.skipped[0] and "unknown role 'robot'" in corpus.skipped[1]
    assert corpus.report()["skipped"] == 4


def test_no_usable_conversation_is_one_error(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"}]}) + "\n")
    with pytest.raises(DataError, match="no usable conversation"):
        read_conversations(path)


def test_texts_from_folder_csv_and_jsonl(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("First document.")
    (tmp_path / "docs" / "b.txt").write_text("  ")
    assert read_texts(tmp_path / "docs").texts == ["First document."]
    (tmp_path / "t.csv").write_text("text\nhello\n\nworld\n")
    assert read_texts(tmp_path / "t.csv").texts == ["hello", "world"]
    (tmp_path / "t.jsonl").write_text('{"text": "a"}\n{"text": ""}\n')
    corpus = read_texts(tmp_path / "t.jsonl")
    assert corpus.texts == ["a"] and corpus.skipped == ["line 2: empty or no 'text'"]


def test_packing_keeps_whole_examples_and_their_targets():
    from graft.generation.formatting import IGNORE, pack_examples

    examples = [([1, 2, 3], [IGNORE, 2, 3]), ([4, 5], [IGNORE, 5]), ([6, 7, 8, 9], [IGNORE, IGNORE, 8, 9]),
                ([10], [10])]
    rows = pack_examples(examples, block=5)
    assert rows == [([1, 2, 3, 4, 5], [IGNORE, 2, 3, IGNORE, 5]), ([6, 7, 8, 9, 10], [IGNORE, IGNORE, 8, 9, 10])]
    assert sum(len(x) for x, _ in rows) == sum(len(x) for x, _ in examples)
