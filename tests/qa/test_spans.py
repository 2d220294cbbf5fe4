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
