"""Questions made from plain text, for extra training signal when few questions are written by hand.

As in Lewis et al. 2019 ("Unsupervised Question Answering by Cloze Translation"), a sentence of a text
becomes a question by replacing an answer-like span in it (a number, an amount, a date, a name) with a
question phrase fitting its kind, and the answer is that span in the surrounding passage. The sentence's words
are then lightly shuffled around the question phrase so that the model cannot answer by matching the whole
sentence. The passage is the sentence with its neighbours (a short context: cheap to train on).
"""
from __future__ import annotations

import random
import re

from graft.qa.data import Answer, QAExample

_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])|\n+")  # "$1.28" and "27.3bn" stay inside a sentence
_KINDS = (  # (kind, pattern, question phrase), tried in this order
    ("amount", re.compile(r"(?:[£$€]\s?\d+(?:[.,]\d+)*(?:\s?(?:m|bn|million|billion|trillion)\b)?|\d+(?:[.,]\d+)*\s?%"
                          r"|\d+(?:[.,]\d+)*\s(?:million|billion|per cent))"), "how much"),
    ("date", re.compile(r"\b(?:(?:January|February|March|April|May|June|July|August|September|October|November"
                        r"|December)(?:\s\d{4})?|(?:19|20)\d\d)\b"), "when"),
    ("number", re.compile(r"\b\d[\d,]*(?:\.\d+)?\b"), "how many"),
    ("name", re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+(?:\s(?:of\s)?[A-Z][a-z]+)+\b"), "who or what"),
)


def cloze_questions(texts: list[str], per_text: int = 6, seed: int = 0, neighbours: int = 1) -> list[QAExample]:
    """Up to ``per_text`` synthetic questions from each text (a seeded choice of its sentences)."""
    rng = random.Random(seed)
    out: list[QAExample] = []
    for t, text in enumerate(texts):
        spans = sentences(text)
        order = list(range(len(spans)))
        rng.shuffle(order)
        made = 0
        for i in order:
            if made == per_text:
                break
            example = _from_sentence(text, spans, i, neighbours, rng, f"cloze-{t}-{i}")
            if example is not None:
                out.append(example)
                made += 1
    return out


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, leading and trailing space excluded."""
    out, start = [], 0
    for boundary in [*_BOUNDARY.finditer(text), None]:
        end = boundary.start() if boundary else len(text)
        chunk = text[start:end]
        if chunk.strip():
            lead = len(chunk) - len(chunk.lstrip())
            out.append((start + lead, start + len(chunk.rstrip())))
        start = boundary.end() if boundary else len(text)
    return out


def _from_sentence(text: str, spans: list[tuple[int, int]], i: int, neighbours: int, rng: random.Random,
                   qid: str) -> QAExample | None:
    start, end = spans[i]
    sentence = text[start:end]
    if len(sentence.split()) < 6:
        return None
    for _, pattern, phrase in _KINDS:
        found = list(pattern.finditer(sentence))
        if not found:
            continue
        match = rng.choice(found)
        answer = match.group(0).strip()
        if len(answer) < 2 or len(answer.split()) > 6:
            continue
        left, right = sentence[:match.start()].strip(), sentence[match.end():].strip().rstrip(".!?")
        question = _question(left, phrase, right, rng)
        first, last = spans[max(0, i - neighbours)][0], spans[min(len(spans) - 1, i + neighbours)][1]
        passage = text[first:last]
        at = start - first + match.start()
        return QAExample(qid, question, passage, [Answer(answer, at)])
    return None


def _question(left: str, phrase: str, right: str, rng: random.Random) -> str:
    """The cloze as a question: the clause around the answer, its two sides swapped at random (a light reorder,
    so the question is not the sentence verbatim)."""
    if rng.random() < 0.5 and left and right:
        text = f"{phrase} {right}, {left}"
    else:
        text = f"{left} {phrase} {right}".strip()
    text = re.sub(r"\s+", " ", text).strip(" ,;:")
    return text[0].upper() + text[1:] + "?"
