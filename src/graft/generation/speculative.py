"""Greedy decoding sped up by drafting: a cheap copy of the model proposes tokens, the model checks them.

On a CPU, producing one token costs reading every weight once: decoding is bound by memory, not arithmetic.
A draft with int8 weights (a quarter of the bytes, bf16 activations) proposes ``k`` tokens one by one; the
model then scores all of them in one pass and keeps the longest run that matches its own greedy choices, plus
its own next token. The tokens are the model's own greedy tokens (up to the rounding differences of scoring
several positions at once); only the time changes.

The draft is built here rather than through transformers' ``assistant_model`` because its loop costs more
than the saving on a 135M model (measured 1.33-1.48x against 1.6x+ for this loop, same draft, same CPU).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

DRAFT_TOKENS = 8  # proposals per round: the draft agreed with the model on 97 % of tokens in a chat probe


class Int8WeightLinear(nn.Module):
    """A linear layer with int8 weights (symmetric, per output channel) and bf16 activations."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(1).clamp(min=1e-8) / 127
        self.register_buffer("weight_int8", torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.to(torch.bfloat16))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().to(torch.bfloat16))
        self.out_features = weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1]).to(torch.bfloat16).contiguous()
        y = torch.ops.aten._weight_int8pack_mm(flat, self.weight_int8, self.scale)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)


class PackedLinear(nn.Module):
    """A linear layer whose fp32 weight is stored in oneDNN's blocked layout: same arithmetic, but reading the
    weights for a few rows of input runs 1.6-4x faster than ``F.linear`` on a CPU (measured for this model's
    shapes with the weights coming from memory, not cache)."""

    def __init__(self, linear: nn.Linear, rows: int = DRAFT_TOKENS + 1):
        super().__init__()
        self.register_buffer("packed", torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach().float(), rows))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())
        self.out_features = linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1]).float().contiguous()
        y = torch.ops.mkldnn._linear_pointwise(flat, self.packed, self.bias, "none", [], "")
        return y.reshape(*x.shape[:-1], self.out_features)


def _copy_with(model: nn.Module, dtype: torch.dtype, make) -> nn.Module:
    """A copy of a causal LM (adapters merged, LM head untied) with each linear layer replaced by ``make``."""
    copied = copy.deepcopy(model)
    if hasattr(copied, "merge_and_unload"):  # peft: fold the adapters into the weights
        copied = copied.merge_and_unload()
    head = copied.get_output_embeddings()
    untied = nn.Linear(head.in_features, head.out_features, bias=head.bias is not None)
    untied.weight = nn.Parameter(head.weight.detach().clone())  # the embedding stays a plain tensor
    copied.set_output_embeddings(untied)
    copied.to(dtype).eval()
    for module in list(copied.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                setattr(module, name, make(child))
    try:  # the kernels exist on this build but may not run on this CPU
        with torch.inference_mode():
            copied(input_ids=torch.zeros(1, 2, dtype=torch.long))
    except RuntimeError:
        return None
    return copied


def packed_model(model: nn.Module, rows: int = DRAFT_TOKENS + 1) -> nn.Module | None:
    """An fp32 copy for decoding with oneDNN-packed weights, laid out for ``rows`` input rows at a time (the
    tokens scored per step: draft length + 1, or the batch size); None where oneDNN is missing."""
    if not hasattr(torch.ops.mkldnn, "_reorder_linear_weight") or not torch.backends.mkldnn.is_available():
        return None
    return _copy_with(model, torch.float32, lambda linear: PackedLinear(linear, rows))


def int8_draft(model: nn.Module) -> nn.Module | None:
    """A bf16 copy whose linear layers, LM head included, hold int8 weights; None where the kernel is missing."""
    if not hasattr(torch.ops.aten, "_weight_int8pack_mm"):
        return None
    return _copy_with(model, torch.bfloat16, Int8WeightLinear)


def supports_drafting(model: nn.Module) -> bool:
    """Rounds roll back the caches by cropping them: models with sliding-window layers (gemma-3) cannot."""
    config = model.config
    return not (getattr(config, "sliding_window", None) or "sliding_attention" in (getattr(config, "layer_types",
                                                                                          None) or []))


@torch.inference_mode()
def greedy_with_draft(model: nn.Module, draft: nn.Module, input_ids: torch.Tensor, max_new_tokens: int,
                      stop_ids: list[int], streamer=None, k: int = DRAFT_TOKENS) -> torch.Tensor:
    """The prompt plus up to ``max_new_tokens`` greedy tokens of ``model`` (batch of one), ending at a stop id.

    Invariant at the top of each round: the model's cache holds every token of ``seq`` but the last; the
    draft's cache holds a prefix of ``seq``.
    """
    from transformers import DynamicCache

    stops, prompt = set(stop_ids), input_ids.shape[1]
    model_cache, draft_cache = DynamicCache(), DynamicCache()
    logits = model(input_ids=input_ids, past_key_values=model_cache, use_cache=True).logits
    draft(input_ids=input_ids, past_key_values=draft_cache, use_cache=True)
    seq = input_ids[0].tolist() + [int(logits[0, -1].argmax())]
    if streamer is not None:
        streamer.put(input_ids[0])
        streamer.put(torch.tensor(seq[-1:]))
    done = seq[-1] in stops
    while not done and len(seq) - prompt < max_new_tokens:
        seen = len(seq)
        pending, proposals = seq[draft_cache.get_seq_length():], []
        for _ in range(min(k, max_new_tokens - (seen - prompt))):
            token = int(draft(input_ids=torch.tensor([pending]), past_key_values=draft_cache,
                              use_cache=True).logits[0, -1].argmax())
            proposals.append(token)
            pending = [token]
            if token in stops:
                break
        checked = model(input_ids=torch.tensor([[seq[-1], *proposals]]), past_key_values=model_cache,
                        use_cache=True).logits[0].argmax(-1).tolist()
        agreed = 0
        while agreed < len(proposals) and proposals[agreed] == checked[agreed]:
            agreed += 1
        taken = (proposals[:agreed] + [checked[agreed]])[:max_new_tokens - (seen - prompt)]
        stop_at = next((i for i, t in enumerate(taken) if t in stops), None)
        if stop_at is not None:
            taken, done = taken[:stop_at + 1], True
        seq += taken
        model_cache.crop(seen + agreed)  # = len(seq) - 1 when all of ``taken`` was kept
        draft_cache.crop(min(draft_cache.get_seq_length(), seen + agreed))
        if streamer is not None:
            streamer.put(torch.tensor(taken))
    if streamer is not None:
        streamer.end()
    return torch.tensor([seq])
