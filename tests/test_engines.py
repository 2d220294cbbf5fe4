"""OpenVINO as the CPU engine of a frozen transformer: the same outputs as PyTorch, converted once and cached."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("openvino")

from graft import engines  # noqa: E402
from graft.qa.data import QAExample  # noqa: E402

CONTEXT = ("The Bank of England kept interest rates at 4.75% on Thursday. The governor, Mervyn King, said that "
           "growth was slowing and that the committee would watch house prices closely before its next meeting.")


@pytest.fixture(scope="module")
def minilm_qa():
    """MiniLM-L6's real encoder with a seeded span head, and real windows of a question over a BBC-style text."""
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from graft.backbones import get_cfg
    from graft.backbones.weights import resolve
    from graft.qa.spans import make_windows

    location = str(resolve(get_cfg("minilm-l6")).location)
    torch.manual_seed(0)
    model = AutoModelForQuestionAnswering.from_pretrained(location, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
    examples = [QAExample(str(i), q, CONTEXT) for i, q in enumerate(["Who is the governor?", "What was kept?"])]
    return model, make_windows(tokenizer, examples, max_length=64, stride=16).inputs


def _torch_outputs(model, batch):
    with torch.no_grad():
        out = model(**batch)
    return out.start_logits, out.end_logits


def test_fp32_matches_pytorch_and_bf16_keeps_the_best_tokens(minilm_qa):
    model, batch = minilm_qa
    start, end = _torch_outputs(model, batch)
    f32 = engines.OpenVINONetwork(model, batch, ["start_logits", "end_logits"], "f32", threads=1)(**batch)
    assert f32.start_logits.shape == start.shape
    assert (f32.start_logits - start).abs().max() < 1e-3 and (f32.end_logits - end).abs().max() < 1e-3
    traced_on_less = {k: v[:1, :40] for k, v in batch.items()}  # nothing of the example's shape is kept
    other = engines.OpenVINONetwork(model, traced_on_less, ["start_logits", "end_logits"], "f32", threads=1)(**batch)
    assert (other.start_logits - start).abs().max() < 1e-3
    bf16 = engines.OpenVINONetwork(model, batch, ["start_logits", "end_logits"], "bf16", threads=1)(**batch)
    assert (bf16.start_logits - start).abs().max() < 0.25 * start.abs().max()  # bf16 where the CPU has it


def test_a_keyed_conversion_is_cached_and_read_back(minilm_qa, graft_home):
    model, batch = minilm_qa
    first = engines.OpenVINONetwork(model, batch, ["start_logits", "end_logits"], "f32", threads=1, key="abc")
    cached = engines.OpenVINONetwork.cache_path("abc", list(batch))
    assert cached.is_file() and cached.with_suffix(".bin").is_file()
    assert cached.parent == graft_home / "openvino"

    class Broken(torch.nn.Module):  # were the cache not read, converting this would fail
        def forward(self, **_):
            raise RuntimeError("converted again")

    again = engines.OpenVINONetwork(Broken(), batch, ["start_logits", "end_logits"], "f32", threads=1, key="abc")
    assert torch.equal(again(**batch).start_logits, first(**batch).start_logits)


def test_question_answering_answers_through_the_engine(minilm_qa, monkeypatch):
    """With the fast path on, the answering network is OpenVINO's and the answers are PyTorch's (fp32 here, so
    the comparison is exact); with it off, or without OpenVINO, PyTorch answers."""
    from graft.tasks.question_answering import QuestionAnswerer

    model, _ = minilm_qa
    qa = QuestionAnswerer("minilm-l6", "fine-tune")
    qa.load_base()
    qa.model = model
    question = [("Who is the governor?", CONTEXT)]
    monkeypatch.setattr("graft.runtime._runtime", None)  # settings() then follows GRAFT_FAST
    monkeypatch.setattr("graft.runtime.cpu_supports_bf16", lambda: False)
    monkeypatch.setenv("GRAFT_FAST", "0")
    plain = qa.predict(question, top_k=2)
    assert qa.answering_model() is model
    monkeypatch.setenv("GRAFT_FAST", "1")
    qa._answering = None
    fast = qa.predict(question, top_k=2)
    assert isinstance(qa.answering_model(), engines.OpenVINONetwork)
    assert [a["answer"] for a in fast[0]["answers"]] == [a["answer"] for a in plain[0]["answers"]]
    monkeypatch.setattr(engines, "openvino_available", lambda: False)
    qa._answering = None
    qa.predict(question)
    assert not isinstance(qa.answering_model(), engines.OpenVINONetwork)
