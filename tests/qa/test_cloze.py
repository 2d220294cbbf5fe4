"""Cloze questions from plain text: the answer is a real span of the passage and no longer in the question."""
from __future__ import annotations

from graft.qa.cloze import cloze_questions, sentences

TEXT = ("Shares in Marks and Spencer rose 4% on Tuesday after the retailer said sales had recovered. "
        "The chain, which employs 65,000 people, was founded in 1884 by Michael Marks in Leeds.\n"
        "Analysts at Deutsche Bank said the figures were better than expected.")


def test_sentences_keep_decimals_and_amounts_inside():
    text = "The dollar rose to $1.2871 against the euro. Profits fell 27.3% in March."
    assert [text[a:b] for a, b in sentences(text)] == ["The dollar rose to $1.2871 against the euro.",
                                                       "Profits fell 27.3% in March."]


def test_questions_point_at_real_spans_that_they_hide():
    questions = cloze_questions([TEXT], per_text=3, seed=1)
    assert 1 <= len(questions) <= 3
    for q in questions:
        answer = q.answers[0]
        assert q.context[answer.start:answer.start + len(answer.text)] == answer.text
        assert answer.text not in q.question and q.question.endswith("?")
        assert any(w in q.question.lower() for w in ("how much", "how many", "when", "who or what"))
    assert cloze_questions([TEXT], per_text=3, seed=1) == questions  # seeded


def test_short_or_answerless_text_gives_nothing():
    assert cloze_questions(["Hello there.", "No numbers or names here at all, just words."], per_text=2) == []
