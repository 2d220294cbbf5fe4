"""Token windows over long contexts and answers chosen across them, with MiniLM-L6's real tokenizer."""
from __future__ import annotations

import pytest
import torch

from graft.qa.data import Answer, QAExample
from graft.qa.spans import best_spans, make_windows, no_answer_threshold

FILLER = "The committee met again on Tuesday to discuss the budget, but no decision was reached. " * 12
CONTEXT = FILLER + "The new stadium will cost 45 million pounds and open in 2008."


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from graft.backbones import get_cfg
    from graft.backbones.weights import resolve

    return AutoTokenizer.from_pretrained(str(resolve(get_cfg("minilm-l6")).location), local_files_only=True)


def _example() -> QAExample:
    return QAExample("s", "How much will the stadium cost?", CONTEXT, [Answer("45 million pounds",
                                                                          CONTEXT.index("45 million"))])


def test_long_context_is_windowed_and_the_answer_targeted_in_a_later_window(tokenizer):
    windows = make_windows(tokenizer, [_example()], max_length=96, stride=24, with_targets=True)
    assert len(windows) >= 3 and set(windows.example) == {0}
    holding = [w for w in range(len(windows)) if int(windows.starts[w]) > 0]
    assert holding and holding[0] >= 1  # not in the first window
    w = holding[-1]
    ids = windows.inputs["input_ids"][w][int(windows.starts[w]):int(windows.ends[w]) + 1]
    assert tokenizer.decode(ids) == "45 million pounds"
    assert all(int(windows.starts[v]) == 0 for v in range(len(windows)) if v not in holding)  # CLS elsewhere


def test_the_best_span_is_found_across_windows(tokenizer):
    example = _example()
    windows = make_windows(tokenizer, [example], max_length=96, stride=24, with_targets=True)
    starts = torch.zeros(len(windows), 96)
    ends = torch.zeros(len(windows), 96)
    w = [v for v in range(len(windows)) if int(windows.starts[v]) > 0][-1]
    starts[w, int(windows.starts[w])] = ends[w, int(windows.ends[w])] = 10.0
    starts[0, 20] = ends[0, 22] = 4.0  # a weaker candidate in the first window
    (spans, _), = best_spans([example], windows, starts, ends, top_k=2)
    assert spans[0].text == "45 million pounds" and CONTEXT[spans[0].start:spans[0].end] == spans[0].text
    assert spans[0].score == 20.0 and spans[1].score < spans[0].score


def test_no_answer_threshold_separates_unanswerable_questions():
    from graft.qa.spans import Span

    answered = ([Span("x", 10.0, 0, 1)], 2.0)  # margin -8
    unanswerable = ([Span("y", 3.0, 0, 1)], 9.0)  # margin +6
    threshold = no_answer_threshold([answered, unanswerable, answered], [True, False, True])
    assert -8 <= threshold < 6
    assert no_answer_threshold([answered, answered], [True, True]) == float("inf")  # v1: always answer


def test_slow_tokenizers_are_refused():
    from graft.errors import GraftError

    class Slow:
        is_fast = False

    with pytest.raises(GraftError, match="fast"):
        make_windows(Slow(), [_example()])


def test_a_very_long_question_is_cut_and_the_context_still_windowed(tokenizer):
    long_question = "Which of the many committees that met " * 40 + "decided the cost?"
    example = QAExample("q", long_question, CONTEXT, [])
    windows = make_windows(tokenizer, [example], max_length=128, stride=32)
    assert len(windows) >= 2 and all(any(o is not None for o in offsets) for offsets in windows.offsets)


def _every_pair(examples, windows, starts, ends, top_k, max_answer_tokens):
    """Reference: every (start, end) pair of context tokens, scored one by one."""
    out = []
    for owner, example in enumerate(examples):
        found = {}
        for w in (v for v in range(len(windows)) if windows.example[v] == owner):
            inside = [i for i, o in enumerate(windows.offsets[w]) if o is not None]
            for s in inside:
                for e in inside:
                    if s <= e < s + max_answer_tokens:
                        span = (windows.offsets[w][s][0], windows.offsets[w][e][1])
                        found[span] = max(found.get(span, float("-inf")), float(starts[w, s] + ends[w, e]))
        best = sorted(found.items(), key=lambda item: -item[1])[:top_k]
        out.append([(example.context[a:b], score) for (a, b), score in best])
    return out


def test_batched_span_scoring_agrees_with_scoring_every_pair(tokenizer):
    """With as many candidates as tokens, the tensor scoring must find exactly the best pairs by brute force,
    across windows and examples (the no-answer score is each example's lowest first-token score)."""
    examples = [_example(), QAExample("t", "When will it open?", "It opens in 2008, the council said.", [])]
    windows = make_windows(tokenizer, examples, max_length=64, stride=16)
    generator = torch.Generator().manual_seed(0)
    starts, ends = torch.randn(len(windows), 64, generator=generator), torch.randn(len(windows), 64, generator=generator)
    found = best_spans(examples, windows, starts, ends, top_k=3, max_answer_tokens=5, candidates=64)
    expected = _every_pair(examples, windows, starts, ends, top_k=3, max_answer_tokens=5)
    for (spans, null), reference, owner in zip(found, expected, range(len(examples))):
        assert [(s.text, round(s.score, 4)) for s in spans] == [(t, round(v, 4)) for t, v in reference]
        rows = [w for w in range(len(windows)) if windows.example[w] == owner]
        assert null == pytest.approx(min(float(starts[w, 0] + ends[w, 0]) for w in rows))
