"""Exact match and F1 against hand-computed cases: SQuAD normalisation, Chinese by characters, SQuAD v2."""
from __future__ import annotations

import pytest

from graft.qa.data import Answer, QAExample
from graft.qa.metrics import char_scores, is_cjk, squad_scores


def _ex(qid: str, *answers: str) -> QAExample:
    return QAExample(qid, "q?", "context", [Answer(a, 0) for a in answers])


def test_english_em_and_f1_by_hand():
    examples = [_ex("a", "Eiffel Tower"), _ex("b", "Eiffel Tower"), _ex("c", "in 1889", "1889"), _ex("d", "Paris")]
    # a: "the" is dropped -> exact; b: 1 of 2 tokens -> P 1, R 0.5, F1 2/3; c: best over golds -> exact; d: wrong
    report = squad_scores({"a": "the Eiffel Tower", "b": "Eiffel", "c": "1889.", "d": "Lyon"}, examples)
    assert report["exact_match"] == pytest.approx(100 * 2 / 4)
    assert report["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0) / 4, abs=0.01)
    assert report["n"] == 4 and "HasAns" not in report


def test_chinese_is_scored_by_characters():
    assert is_cjk("北京大学") and not is_cjk("Peking University")
    em, f1 = char_scores("北京大学", ["北京"])  # 2 common of 4 predicted, 2 gold: P .5, R 1
    assert em == 0 and f1 == pytest.approx(2 / 3)
    assert char_scores("北京。", ["北京"]) == (1.0, 1.0)  # punctuation dropped
    report = squad_scores({"z": "北京大学"}, [_ex("z", "北京")])
    assert report["f1"] == pytest.approx(66.67, abs=0.01)


def test_v2_unanswerable_splits():
    examples = [_ex("a", "Paris"), QAExample("n1", "q?", "c"), QAExample("n2", "q?", "c")]
    report = squad_scores({"a": "Paris", "n1": "", "n2": "something"}, examples)
    assert report["NoAns"] == {"exact_match": 50.0, "f1": 50.0, "n": 2}
    assert report["HasAns"]["exact_match"] == 100.0 and report["exact_match"] == pytest.approx(200 / 3, abs=0.01)
