"""BLEU and chrF through sacrebleu, with their signatures; Chinese tokenised for BLEU, Urdu letters folded."""
from __future__ import annotations

import pytest

pytest.importorskip("sacrebleu")

from graft.translation.metrics import scores  # noqa: E402


def test_identical_is_100_and_signatures_name_the_tokenizer():
    report = scores(["打开 这个 文件"], ["打开 这个 文件"], "zh")
    assert report["bleu"] == 100.0 and report["chrf"] == 100.0
    assert "tok:zh" in report["bleu_signature"] and "nc:6" in report["chrf_signature"]
    assert "tok:13a" in scores(["a b c d"], ["a b c d"], "ar")["bleu_signature"]


def test_chinese_bleu_needs_no_spaces():
    """Without the zh tokenizer an unsegmented Chinese sentence is one word: any difference would score 0."""
    report = scores(["我们打开了这个文件夹"], ["我们打开了这个文件"], "zh")
    assert 50 < report["bleu"] < 100


def test_a_wrong_translation_scores_low():
    assert scores(["关闭窗口"], ["打开文件"], "zh")["chrf"] < 10


def test_urdu_scored_as_written_and_folded():
    hyp, ref = ["یہ فائل کھولیں"], ["يہ فائل كھوليں"]  # the reference written with Arabic yeh / kaf
    report = scores(hyp, ref, "ur")
    assert report["chrf"] < 60 and report["chrf_normalised"] == 100.0
