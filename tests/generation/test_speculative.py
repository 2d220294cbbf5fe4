"""Drafted greedy decoding gives the model's own greedy tokens, whatever the draft proposes."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from graft.generation.models import stop_ids
from graft.generation.speculative import greedy_with_draft, int8_draft, packed_model

PROMPTS = ("Tell me about the ocean.", "Hi", "List three colours.")


@pytest.fixture(scope="module")
def lm(converted):
    model = AutoModelForCausalLM.from_pretrained(converted).eval()
    tokenizer = AutoTokenizer.from_pretrained(converted)
    return model, tokenizer


def _prompt(tokenizer, text):
    chat = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                         add_generation_prompt=True)
    return tokenizer(chat, return_tensors="pt", add_special_tokens=False)["input_ids"]


def _plain(model, tokenizer, ids, n):
    with torch.inference_mode():
        return model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                              do_sample=False, pad_token_id=tokenizer.pad_token_id, eos_token_id=stop_ids(tokenizer))


@pytest.mark.parametrize("n", [1, 7, 40])
def test_drafted_greedy_equals_plain_greedy(lm, n):
    model, tokenizer = lm
    draft, decoder = int8_draft(model), packed_model(model)
    if draft is None or decoder is None:
        pytest.skip("int8 or oneDNN kernels are not available on this CPU")
    for text in PROMPTS:
        ids = _prompt(tokenizer, text)
        expected = _plain(model, tokenizer, ids, n)[0].tolist()
        assert greedy_with_draft(decoder, draft, ids, n, stop_ids(tokenizer))[0].tolist() == expected
        assert greedy_with_draft(model, draft, ids, n, stop_ids(tokenizer), k=3)[0].tolist() == expected


def test_a_wrong_draft_only_costs_time(lm):
    """A draft from badly perturbed weights proposes mostly wrong tokens: the output must not change."""
    model, tokenizer = lm
    import copy

    noisy = copy.deepcopy(model)
    with torch.no_grad():
        for p in noisy.parameters():
            p.add_(torch.randn_like(p) * p.std() * 2)
    draft = int8_draft(noisy)
    if draft is None:
        pytest.skip("int8 kernels are not available on this CPU")
    ids = _prompt(tokenizer, PROMPTS[0])
    expected = _plain(model, tokenizer, ids, 30)[0].tolist()
    assert greedy_with_draft(model, draft, ids, 30, stop_ids(tokenizer))[0].tolist() == expected


def test_streamed_text_is_the_returned_text(lm):
    from transformers import TextIteratorStreamer

    model, tokenizer = lm
    draft = int8_draft(model)
    if draft is None:
        pytest.skip("int8 kernels are not available on this CPU")
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    ids = _prompt(tokenizer, PROMPTS[2])
    out = greedy_with_draft(model, draft, ids, 25, stop_ids(tokenizer), streamer=streamer)
    assert "".join(streamer) == tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
