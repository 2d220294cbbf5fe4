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
    """Per example: its best ``top_k`` spans over all its windows (score = start + end logit) and its
    no-answer score (the lowest first-token score over its windows)."""
    spans: list[list[Span]] = [[] for _ in examples]
    null = [float("inf")] * len(examples)
    start_logits, end_logits = start_logits.float(), end_logits.float()
    for w, owner in enumerate(windows.example):
        s_logits, e_logits, offsets = start_logits[w], end_logits[w], windows.offsets[w]
        null[owner] = min(null[owner], float(s_logits[0] + e_logits[0]))
        context_mask = torch.tensor([o is None for o in offsets])
        s_masked = s_logits.masked_fill(context_mask, -1e9)
        e_masked = e_logits.masked_fill(context_mask, -1e9)
        k = min(candidates, int((~context_mask).sum()))
        if k == 0:
            continue
        top_starts, top_ends = s_masked.topk(k).indices.tolist(), e_masked.topk(k).indices.tolist()
        context = examples[owner].context
        for s in top_starts:
            for e in top_ends:
                if e < s or e - s + 1 > max_answer_tokens:
                    continue
                first, last = offsets[s][0], offsets[e][1]
                spans[owner].append(Span(context[first:last], float(s_logits[s] + e_logits[e]), first, last))
    out = []
    for owner, found in enumerate(spans):
        found.sort(key=lambda sp: -sp.score)
        unique, seen = [], set()
        for sp in found:
            if (sp.start, sp.end) not in seen and sp.text.strip():
                seen.add((sp.start, sp.end))
                unique.append(sp)
            if len(unique) == top_k:
                break
        out.append((unique, null[owner] if null[owner] != float("inf") else -1e9))
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
