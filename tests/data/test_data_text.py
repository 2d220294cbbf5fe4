"""Text dataset reading: formats, column detection, bad input, and a CSV round-trip property."""
from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graft.data.common import Sample
from graft.data.text import read_text_dataset
from graft.errors import DataError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_detects_columns_case_insensitively(tmp_path):
    data = read_text_dataset(write(tmp_path / "d.csv", "id,Review,Sentiment\n1,good film, 1 \n2,bad film,0\n"))
    assert data.texts == ["good film", "bad film"] and data.labels == ["1", "0"]
    assert data.report == {"rows": 2, "empty_texts": [], "text_col": "Review", "label_col": "Sentiment"}
    assert data.source == tmp_path / "d.csv" and len(data) == 2
    assert data.samples() == [Sample("good film", "1"), Sample("bad film", "0")]


def test_explicit_columns_override(tmp_path):
    path = write(tmp_path / "d.csv", "text,label,title,genre\nx,1,a,g1\ny,0,b,g2\n")
    data = read_text_dataset(path, text_col="title", label_col="GENRE")
    assert data.texts == ["a", "b"] and data.labels == ["g1", "g2"]


def test_unknown_columns_list_found_and_suggest_flags(tmp_path):
    path = write(tmp_path / "d.csv", "tweet,stars\nhi,5\nho,4\n")
    with pytest.raises(DataError) as e:
        read_text_dataset(path)
    message = str(e.value)
    assert "found columns: tweet, stars" in message and "--text-col" in message and "--label-col" in message
    with pytest.raises(DataError, match="no text column 'body2'"):
        read_text_dataset(path, text_col="body2", label_col="stars")
    assert read_text_dataset(path, text_col="tweet", label_col="stars").labels == ["5", "4"]


def test_semicolon_csv_gets_a_hint(tmp_path):
    with pytest.raises(DataError, match="delimited by ';'"):
        read_text_dataset(write(tmp_path / "d.csv", "text;label\na;1\n"))


def test_tsv_and_bom(tmp_path):
    data = read_text_dataset(write(tmp_path / "d.tsv", "\ufefftext\tlabel\na, b\tpos\nc\tneg\n"))
    assert data.texts == ["a, b", "c"] and data.labels == ["pos", "neg"]


def test_jsonl_and_json_array(tmp_path):
    rows = [{"sentence": "one", "label": 1}, {"sentence": "two", "label": 0}]
    jsonl = read_text_dataset(write(tmp_path / "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n"))
    array = read_text_dataset(write(tmp_path / "d.json", json.dumps(rows, indent=2)))
    assert jsonl.texts == array.texts == ["one", "two"] and jsonl.labels == array.labels == ["1", "0"]


def test_jsonl_invalid_line(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": \n')
    with pytest.raises(DataError, match=r"(?s)d\.jsonl: .*invalid: line 2 \(Expecting value\)"):
        read_text_dataset(path)


def test_txt_is_unlabeled_only(tmp_path):
    path = write(tmp_path / "d.txt", "first\r\n\n  \nsecond\n")
    data = read_text_dataset(path, require_labels=False)
    assert data.texts == ["first", "second"] and data.labels == [None, None]
    assert data.report["empty_texts"] == [2, 3]
    with pytest.raises(DataError, match="unlabeled"):
        read_text_dataset(path)


def test_folder_of_class_folders(tmp_path):
    write(tmp_path / "pos" / "a.txt", "great\nreally")
    write(tmp_path / "neg" / "b.txt", "awful")
    write(tmp_path / "neg" / "empty.txt", "  \n")
    write(tmp_path / "neg" / "skip.md", "not text data")
    data = read_text_dataset(tmp_path)
    assert data.texts == ["awful", "great\nreally"] and data.labels == ["neg", "pos"]
    assert data.report["empty_files"] == [str(tmp_path / "neg" / "empty.txt")]
    (tmp_path / "mixed").mkdir()
    with pytest.raises(DataError, match="class folder 'mixed'"):
        read_text_dataset(tmp_path)


def test_unlabeled_csv_when_labels_not_required(tmp_path):
    path = write(tmp_path / "d.csv", "text\nhello\nworld\n")
    assert read_text_dataset(path, require_labels=False).labels == [None, None]
    with pytest.raises(DataError, match="cannot tell which column holds the labels"):
        read_text_dataset(path)


def test_wrong_field_count_names_lines(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\nok,1\n"multi\nline",0\ntoo,many,fields\nfew\n')
    with pytest.raises(DataError) as e:
        read_text_dataset(path)
    message = str(e.value)
    assert "line 5 (3 instead of 2: extra fields)" in message and "line 6 (1 instead of 2: missing fields)" in message
    assert "quote fields" in message


def test_non_utf8_names_line_and_suggests_utf8(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nfine,1\nalso fine,0\nna\xefve caf\xe9,1\n", encoding="cp1252")
    with pytest.raises(DataError, match=r"d\.csv, line 4: not valid UTF-8 \(byte 0xef at column 3\).*UTF-8"):
        read_text_dataset(path)


def test_utf16_is_named(tmp_path):
    with pytest.raises(DataError, match="UTF-16"):
        read_text_dataset(write(tmp_path / "d.csv", "\ufefftext,label\na,1\n", encoding="utf-16"))


def test_empty_texts_skipped_and_recorded(tmp_path):
    data = read_text_dataset(write(tmp_path / "d.csv", "text,label\na,1\n,0\n   ,1\n\nb,0\n"))
    assert data.texts == ["a", "b"] and data.report["empty_texts"] == [3, 4, 5] and data.report["rows"] == 5


def test_missing_labels_named(tmp_path):
    with pytest.raises(DataError, match=r"missing label on 2 row\(s\): line\(s\) 3, 4"):
        read_text_dataset(write(tmp_path / "d.csv", "text,label\na,1\nb,\nc, \nd,0\n"))


def test_single_class_and_empty_file(tmp_path):
    with pytest.raises(DataError, match="needs at least 2 classes, found 1: pos"):
        read_text_dataset(write(tmp_path / "d.csv", "text,label\na,pos\nb,pos\n"))
    with pytest.raises(DataError, match="is empty"):
        read_text_dataset(write(tmp_path / "e.csv", ""))
    with pytest.raises(DataError, match="contains no texts"):
        read_text_dataset(write(tmp_path / "f.csv", "text,label\n"))


def test_missing_and_unsupported_sources(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_text_dataset(tmp_path / "none.csv")
    with pytest.raises(DataError, match="unsupported file type"):
        read_text_dataset(write(tmp_path / "d.xlsx", "x"))


def test_megabyte_texts(tmp_path):
    big = "word " * 400_000  # 2 MB, far over the csv module's default field limit
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text", "label"], [big, "a"], ["small", "b"]])
    assert read_text_dataset(path).texts == [big, "small"]


texts = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40).filter(lambda s: s.strip())
labels = texts.map(str.strip)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(texts, labels), min_size=1, max_size=20), st.sampled_from([",", "\t"]))
def test_csv_round_trip(rows, delimiter):
    rows = rows + [("extra text", "__a"), ("more text", "__b")]  # at least two classes
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("d.tsv" if delimiter == "\t" else "d.csv")
        with open(path, "w", encoding="utf-8", newline="") as f:
            csv.writer(f, delimiter=delimiter).writerows([("text", "label"), *rows])
        data = read_text_dataset(path)
    assert data.texts == [t for t, _ in rows] and data.labels == [y for _, y in rows]
    assert data.report["empty_texts"] == []
