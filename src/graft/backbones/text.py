"""Text backbones built with Hugging Face transformers (BERT family, RoBERTa, GPT-2, MiniLM...)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from graft.backbones.base import Backbone, LayerGroup
from graft.backbones.registry import BackboneCfg
from graft.backbones.weights import ResolvedWeights
from graft.errors import WeightsNotFound

POOLINGS = ("mean", "cls", "last")


class TextBackbone(Backbone):
    def __init__(self, cfg: BackboneCfg, model: nn.Module, tokenizer: PreTrainedTokenizerBase | None,
                 pooling: str | None = None, max_length: int | None = None, pool_layers: int = 1):
        super().__init__()
        pooling = pooling or cfg.preprocessing.pooling
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if getattr(model, "pooler", None) is not None:
            model.pooler = None  # graft pools itself; an unused pooler only confuses DDP and freezing
        self.cfg, self.model, self.tokenizer, self.pooling = cfg, model, tokenizer, pooling
        self.max_length = max_length or cfg.preprocessing.max_length
        self.feature_dim = int(model.config.hidden_size)
        self.pool_layers = pool_layers
        if not 1 <= pool_layers <= self.hidden_states:
            raise ValueError(f"pool_layers must be between 1 and {self.hidden_states} for '{cfg.name}' "
                             f"(its layers plus the embeddings), got {pool_layers}")
        if tokenizer is not None:
            _ensure_pad_token(tokenizer, model)

    @property
    def hidden_states(self) -> int:
        """How many hidden states the encoder yields: one per transformer layer, plus the embeddings."""
        return len(_transformer_layers(self.model)[1]) + 1

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.forward_layers(input_ids, attention_mask, self.pool_layers).mean(1)

    def forward_layers(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, last: int = 1) -> torch.Tensor:
        """(batch, last, dim): each of the last ``last`` hidden states, pooled over tokens."""
        if last == 1:
            states = [self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state]
        else:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
            states = out.hidden_states[-last:]
        return torch.stack([self._pool(hidden, attention_mask) for hidden in states], 1)

    def _pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            return hidden[:, 0]
        if self.pooling == "last":  # right padding: the last real token of each row
            last = attention_mask.sum(1).clamp(min=1) - 1
            return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Padded, truncated model inputs for a batch of texts."""
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def count_truncated(self, texts: list[str]) -> int:
        """How many texts are longer than ``max_length`` tokens (they are cut, and the run report says so)."""
        lengths = self.tokenizer(texts, truncation=False, add_special_tokens=True, return_length=True,
                                 verbose=False)["length"]
        return sum(n > self.max_length for n in lengths)

    def layer_groups(self) -> list[LayerGroup]:
        layers_name, layers = _transformer_layers(self.model)
        names = [n for n, _ in self.model.named_parameters()]
        prefix = f"{layers_name}."
        before, after, per_layer = [], [], {i: [] for i in range(len(layers))}
        seen_layers = False
        for name in names:
            if name.startswith(prefix):
                per_layer[int(name[len(prefix):].split(".")[0])].append(name)
                seen_layers = True
            else:
                (after if seen_layers else before).append(name)
        groups = [LayerGroup("embeddings", tuple(before))] if before else []
        groups += [LayerGroup(f"layer.{i}", tuple(p)) for i, p in per_layer.items()]
        if after:
            groups.append(LayerGroup("final", tuple(after)))
        return [LayerGroup(g.name, tuple(f"model.{p}" for p in g.params)) for g in groups]

    def spec(self) -> dict:
        return {"name": self.cfg.name, "family": "text", "arch": self.cfg.arch, "pooling": self.pooling,
                "pool_layers": self.pool_layers, "max_length": self.max_length}


def _transformer_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The repeated block list (``encoder.layer``, ``transformer.layer``, ``h``...): the longest ModuleList."""
    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise ValueError(f"{type(model).__name__}: no repeated transformer layers found")
    return max(lists, key=lambda item: len(item[1]))


def _ensure_pad_token(tokenizer: PreTrainedTokenizerBase, model: nn.Module) -> None:
    """GPT-2 and other decoders ship without a pad token: reuse end-of-text, pad on the right."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "right"
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id


def build_text_backbone(cfg: BackboneCfg, weights: ResolvedWeights | None, pooling: str | None = None,
                        max_length: int | None = None, pool_layers: int = 1, config_overrides: dict | None = None,
                        tokenizer: str | Path | PreTrainedTokenizerBase | None = None) -> TextBackbone:
    """A transformers encoder from a resolved model directory, or random weights from ``cfg.config``."""
    if weights is not None:
        location = str(weights.location)
        try:
            model = AutoModel.from_pretrained(location, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise WeightsNotFound(f"cannot load '{cfg.name}' from {location}: {exc}".splitlines()[0]) from None
        tokenizer = tokenizer or location
    else:
        params = {**cfg.config, **(config_overrides or {})}
        model = AutoModel.from_config(AutoConfig.for_model(**params))
    if isinstance(tokenizer, (str, Path)):
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer), local_files_only=True)
    backbone = TextBackbone(cfg, model, tokenizer, pooling, max_length, pool_layers)
    if weights is not None:
        backbone.weights_source, backbone.weights_sha256 = weights.source, weights.sha256
    return backbone
