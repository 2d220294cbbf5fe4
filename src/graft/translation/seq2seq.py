"""Encoder-decoder translation models (Marian / OPUS-MT, mBART-50, NLLB-200, M2M100, T5) as transformers ships them.

What differs from a decoder-only model: the source goes to the encoder and the target is the decoder's labels;
the languages are told the model family's way (``languages.family_codes``): the tokenizer's ``src_lang`` /
``tgt_lang``, a forced first output token, or a text prefix. Licences differ a lot between these families
(NLLB-200 is non-commercial), so the one that applies is printed when a model loads.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from graft import training
from graft.generation.formatting import IGNORE
from graft.translation import languages

# repo-id prefix -> licence of the published weights (model cards)
LICENCES = {"facebook/nllb": "CC-BY-NC-4.0 (non-commercial use only)", "Helsinki-NLP/opus-mt": "CC-BY-4.0",
            "facebook/mbart-large-50": "MIT", "facebook/m2m100": "MIT", "google-t5/": "Apache-2.0",
            "t5-": "Apache-2.0", "google/mt5": "Apache-2.0"}


def licence(name: str) -> str:
    return next((text for prefix, text in LICENCES.items() if name.startswith(prefix)), "see the model card")


def is_encoder_decoder(folder: Path) -> bool:
    try:
        return bool(json.loads((Path(folder) / "config.json").read_text(encoding="utf-8")).get("is_encoder_decoder"))
    except (OSError, ValueError):
        return False


class Seq2Seq:
    """A seq2seq model's tokenizer set up for one language pair, and how to encode, collate and generate."""

    def __init__(self, model, tokenizer, src: str, tgt: str):
        self.tokenizer = tokenizer
        self.start_id = model.config.decoder_start_token_id
        vocab = tokenizer.get_vocab()
        self.kind = languages.family(model.config.model_type, vocab)
        self.codes = languages.family_codes(self.kind, src, tgt, vocab)
        if self.codes["src_lang"] and hasattr(tokenizer, "src_lang"):
            tokenizer.src_lang = self.codes["src_lang"]
        if self.codes["tgt_lang"] and hasattr(tokenizer, "tgt_lang"):
            tokenizer.tgt_lang = self.codes["tgt_lang"]
        forced = self.codes["forced_bos"]
        self.forced_bos_id = vocab.get(forced) if forced else None
        if forced and self.forced_bos_id is None:
            from graft.errors import GraftError

            raise GraftError(f"this {self.kind} model has no {forced!r} token: it does not translate into "
                             f"{languages.name(tgt)}")

    def example(self, source: str, target: str, max_length: int) -> tuple[list[int], list[int]] | None:
        encoded = self.tokenizer(self.codes["prefix"] + source, text_target=target, truncation=False)
        labels = list(encoded["labels"])
        if labels and labels[0] == self.start_id:  # a BERT-style <s>/[CLS]: the decoder starts from it already
            labels = labels[1:]
        if len(encoded["input_ids"]) > max_length or len(labels) > max_length:
            return None
        return list(encoded["input_ids"]), labels

    def collate(self, examples: list[tuple[list[int], list[int]]]) -> dict:
        pad = self.tokenizer.pad_token_id
        width = max(len(x) for x, _ in examples)
        target_width = max(len(y) for _, y in examples)
        ids = torch.full((len(examples), width), pad, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        labels = torch.full((len(examples), target_width), IGNORE, dtype=torch.long)
        for row, (x, y) in enumerate(examples):
            ids[row, :len(x)], mask[row, :len(x)] = torch.tensor(x), 1
            labels[row, :len(y)] = torch.tensor(y)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    def encode_sources(self, sources: list[str]) -> dict:
        return self.tokenizer([self.codes["prefix"] + s for s in sources], return_tensors="pt", padding=True,
                              return_token_type_ids=False)

    def generate_options(self) -> dict:
        return {"forced_bos_token_id": self.forced_bos_id} if self.forced_bos_id is not None else {}


class Seq2SeqLoss(training.Objective):
    """The model's own label cross-entropy; validation perplexity over target tokens."""

    monitor, mode = "val_loss", "min"

    def loss(self, model, batch):
        n = int((batch["labels"] != IGNORE).sum())
        return model(**batch).loss, n

    def validate(self, model, loader, acc) -> dict[str, float]:
        return perplexity(model, loader)

    def describe(self, row: dict) -> str:
        return f"val perplexity {row['val_perplexity']:.3f}, token accuracy {row['val_token_accuracy']:.2%}"


@torch.no_grad()
def perplexity(model, loader) -> dict[str, float]:
    model.eval()
    device = training.device()
    nll, correct, total = 0.0, 0, 0
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(**batch).logits.float()
        keep = batch["labels"] != IGNORE
        nll += float(torch.nn.functional.cross_entropy(logits[keep], batch["labels"][keep], reduction="sum"))
        correct += int((logits[keep].argmax(-1) == batch["labels"][keep]).sum())
        total += int(keep.sum())
    loss = nll / max(total, 1)
    return {"val_loss": loss, "val_perplexity": math.exp(min(loss, 50.0)),
            "val_token_accuracy": correct / max(total, 1), "target_tokens": total}
