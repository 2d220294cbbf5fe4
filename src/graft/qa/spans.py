"""From question + context to token windows, and from start/end scores back to answer text.

Contexts longer than the model's window are cut into overlapping windows (``stride`` tokens shared between
neighbours) with a fast tokenizer's offsets mapping, as transformers' QA examples do; each window repeats the
question. Training targets are the answer's first and last token in the window that holds it whole, or the
first token (``[CLS]``: "no answer here") elsewhere. At prediction the best span over all windows of an
example wins; the no-answer score is the lowest ``[CLS]`` score over the windows, and a question is left
unanswered when it beats the best span by more than the model's threshold.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from graft.errors import GraftError
from graft.qa.data import QAExample


MAX_QUESTION_TOKENS = 64  # longer questions are cut (as transformers' pipeline does), so the context always fits


def _clip(tokenizer, question: str, limit: int) -> str:
    encoded = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    if len(encoded["input_ids"]) <= limit:
        return question
    return question[:encoded["offset_mapping"][limit - 1][1]]


@dataclass
class Windows:
    """Token windows of a list of examples: model inputs plus what maps them back."""
    inputs: dict[str, torch.Tensor]  # input_ids, attention_mask (and token_type_ids where the model has them)
    example: list[int]  # the example each window comes from
    offsets: list[list[tuple[int, int] | None]]  # per token: its characters in the context, None outside it
    starts: torch.Tensor | None = None  # training targets (token positions in the window; 0 = no answer)
    ends: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.example)

    def row(self, i: int) -> dict:
        item = {k: v[i] for k, v in self.inputs.items()}
        if self.starts is not None:
            item["start_positions"], item["end_positions"] = self.starts[i], self.ends[i]
        return item


def make_windows(tokenizer, examples: list[QAExample], max_length: int = 384, stride: int = 128,
                 with_targets: bool = False) -> Windows:
    if not getattr(tokenizer, "is_fast", False):
        raise GraftError("question answering needs a fast (Rust) tokenizer for character offsets")
    pad_right = tokenizer.padding_side == "right"
    question_first = pad_right  # the question goes on the padding side's opposite, as transformers does
    questions = [_clip(tokenizer, e.question.lstrip(), MAX_QUESTION_TOKENS) for e in examples]
    contexts = [e.context for e in examples]
    enc = tokenizer(questions if question_first else contexts, contexts if question_first else questions,
                    truncation="only_second" if question_first else "only_first", max_length=max_length,
                    stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                    padding="max_length", return_tensors="pt")
    context_id = 1 if question_first else 0
    owners = enc.pop("overflow_to_sample_mapping").tolist()
    mapping = enc.pop("offset_mapping").tolist()
    offsets = []
    for w in range(len(owners)):
        ids = enc.sequence_ids(w)
        offsets.append([tuple(o) if s == context_id else None for o, s in zip(mapping[w], ids)])
    inputs = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    windows = Windows(inputs, owners, offsets)
    if with_targets:
        starts, ends = [], []
        for w, owner in enumerate(owners):
            s, e = _target(examples[owner], offsets[w])
            starts.append(s)
            ends.append(e)
        windows.starts, windows.ends = torch.tensor(starts), torch.tensor(ends)
    return windows


def _target(example: QAExample, offsets: list) -> tuple[int, int]:
    """The answer's token span in this window, or (0, 0) when the window does not hold it whole."""
    if not example.answers:
        return 0, 0
    answer = example.answers[0]
    first_char, last_char = answer.start, answer.start + len(answer.text)
    inside = [i for i, o in enumerate(offsets) if o is not None]
    if not inside or offsets[inside[0]][0] > first_char or offsets[inside[-1]][1] < last_char:
        return 0, 0
    start = next(i for i in inside if offsets[i][1] > first_char)
    end = next(i for i in reversed(inside) if offsets[i][0] < last_char)
    return start, max(start, end)


@dataclass
class Span:
    text: str
    score: float
    start: int  # characters in the context
    end: int


def best_spans(examples: list[QAExample], windows: Windows, start_logits: torch.Tensor, end_logits: torch.Tensor,
               top_k: int = 1, max_answer_tokens: int = 30, candidates: int = 20) -> list[tuple[list[Span], float]]:
    """Per example: its best ``top_k`` spans over all its windows (score = start + end logit; a span starts at one
    of a window's ``candidates`` best context tokens for a start and ends at one of its best for an end) and its
    no-answer score (the lowest first-token score over its windows).

    The candidate pairs of all windows are scored in one tensor operation; only the few best pairs of each
    example become Python objects (scoring every pair in Python cost about 8 % of answering time)."""
    if not len(windows):
        return [([], -1e9) for _ in examples]
    start_logits, end_logits = start_logits.float(), end_logits.float()
    null_scores = (start_logits[:, 0] + end_logits[:, 0]).tolist()
    outside = torch.tensor([[o is None for o in row] for row in windows.offsets], dtype=torch.bool)
    k = min(candidates, start_logits.shape[1])
    top_s = start_logits.masked_fill(outside, float("-inf")).topk(k, dim=1)
    top_e = end_logits.masked_fill(outside, float("-inf")).topk(k, dim=1)
    length = top_e.indices[:, None, :] - top_s.indices[:, :, None] + 1  # (windows, start candidate, end candidate)
    scores = top_s.values[:, :, None] + top_e.values[:, None, :]
    valid = (length >= 1) & (length <= max_answer_tokens) & scores.isfinite()
    scores = scores.masked_fill(~valid, float("-inf")).flatten(1)  # (windows, k * k)
    start_token, end_token = top_s.indices.tolist(), top_e.indices.tolist()
    by_example: dict[int, list[int]] = {}
    for w, owner in enumerate(windows.example):
        by_example.setdefault(owner, []).append(w)
    out = []
    for owner, example in enumerate(examples):
        rows = by_example.get(owner, [])
        unique: list[Span] = []
        if rows:
            ranked, where = scores[rows].flatten().sort(descending=True)
            seen = set()
            for score, i in zip(ranked.tolist(), where.tolist()):
                if score == float("-inf") or len(unique) == top_k:
                    break
                w, pair = rows[i // (k * k)], i % (k * k)
                s, e = start_token[w][pair // k], end_token[w][pair % k]
                first, last = windows.offsets[w][s][0], windows.offsets[w][e][1]
                text = example.context[first:last]
                if (first, last) not in seen and text.strip():
                    seen.add((first, last))
                    unique.append(Span(text, score, first, last))
        out.append((unique, min((null_scores[w] for w in rows), default=-1e9)))
    return out


def no_answer_threshold(results: list[tuple[list[Span], float]], answerable: list[bool]) -> float:
    """The margin (no-answer score minus best span score) above which a question is left unanswered, chosen to
    maximise exact agreement on answerable vs unanswerable over validation (SQuAD v2's best-threshold rule)."""
    margins = [(null - (spans[0].score if spans else -1e9), ok) for (spans, null), ok in zip(results, answerable)]
    best, best_correct = float("inf"), sum(answerable)  # inf: always answer
    for candidate, _ in sorted(margins):
        correct = sum((m <= candidate) == ok for m, ok in margins)
        if correct > best_correct:
            best, best_correct = candidate, correct
    return best
