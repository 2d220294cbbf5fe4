"""Reading QA data: SQuAD v1/v2 JSON, JSONL and CSV; answer starts found by search; problems named by line."""
from __future__ import annotations

import json

import pytest

from graft.datasets import likely_start
from graft.errors import DataError
from graft.qa.data import locate, read_documents, read_qa

CONTEXT = "The Eiffel Tower was finished in 1889. It is 330 metres tall. Paris is in France."


def test_answer_start_is_found_checked_and_questioned():
    assert locate("1889", CONTEXT, None, "x").start == CONTEXT.index("1889")
    assert locate("1889", CONTEXT, 33, "x").start == 33
    with pytest.raises(DataError, match="x: answer '1889' is not at character 3 of its context"):
        locate("1889", CONTEXT, 3, "x")
    with pytest.raises(DataError, match="does not occur in its context"):
        locate("1890", CONTEXT, None, "x")
    with pytest.raises(DataError, match="answer 'It is' occurs 2 times in its context: give answer_start"):
        locate("It is", CONTEXT + " It is old.", None, "x")


def test_csv_rows_are_read_and_bad_ones_reported_by_line(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text("question,context,answer\n"
                    f"When was it finished?,\"{CONTEXT}\",1889\n"
                    f"How tall is it?,\"{CONTEXT}\",400 metres\n"
                    f"Where is Paris?,\"{CONTEXT}\",France\n", encoding="utf-8")
    data = read_qa(path)
    assert [e.answers[0].text for e in data.examples] == ["1889", "France"]
    assert data.skipped == [f"{path}:3: answer '400 metres' does not occur in its context"]
    with pytest.raises(DataError, match=f"1 unusable question\\(s\\)(.|\n)*{path}:3: answer '400 metres'"):
        read_qa(path, on_bad="error")
    (tmp_path / "bad.csv").write_text("q,context\nx,y\n")
    with pytest.raises(DataError, match="missing column\\(s\\) question, answer"):
        read_qa(tmp_path / "bad.csv")


def test_squad_v2_json_and_jsonl(tmp_path):
    squad = {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": CONTEXT, "qas": [
        {"id": "a", "question": "When?", "answers": [{"text": "1889", "answer_start": 33}]},
        {"id": "b", "question": "Who built it?", "answers": [], "is_impossible": True}]}]}]}
    (tmp_path / "v2.json").write_text(json.dumps(squad))
    data = read_qa(tmp_path / "v2.json")
    assert [e.answerable for e in data.examples] == [True, False] and data.report()["unanswerable"] == 1
    lines = [{"question": "When?", "context": CONTEXT, "answers": {"text": ["1889"], "answer_start": [33]}},
             {"question": "Tall?", "context": CONTEXT, "answer": "330 metres"}]
    (tmp_path / "qa.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\nnot json\n")
    data = read_qa(tmp_path / "qa.jsonl")
    assert [e.answers[0].start for e in data.examples] == [33, CONTEXT.index("330")]
    assert data.skipped[0].startswith(f"{tmp_path / 'qa.jsonl'}:3: not JSON")


def test_documents_from_text_file_or_folder(tmp_path):
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "b.txt").write_text("second")
    assert [t for _, t in read_documents(tmp_path)] == ["first", "second"]
    assert read_documents(tmp_path / "a.txt") == [(str(tmp_path / "a.txt"), "first")]
    assert read_documents("just a text " * 100)[0][1].startswith("just a text")


def test_repeated_answer_is_placed_near_the_question_words():
    filler = " The board met twice and the chairman spoke at length about the outlook for the year." * 5
    context = f"Sales rose 5% in March.{filler} Costs at the London plant rose 5% too."
    assert likely_start("5%", context, "By how much did costs at the plant rise?") == context.rindex("5%")
    assert likely_start("5%", context, "How much did sales rise?") == context.index("5%")


def test_bbc_qa_is_split_by_article(tmp_path):
    from graft import datasets

    root = datasets.bbc_qa(tmp_path)
    train, test = read_qa(root / "train.json", on_bad="error"), read_qa(root / "test.json", on_bad="error")
    assert len(train) + len(test) >= 1000 and len(test) >= 200
    assert len({e.context for e in train.examples} | {e.context for e in test.examples}) >= 150
    assert not {e.context for e in train.examples} & {e.context for e in test.examples}
    assert "non-commercial" in (root / "README.txt").read_text()
