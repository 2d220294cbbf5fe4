"""Text generation and chat: fine-tune a pretrained causal language model on your own texts or conversations.

``--task generation`` learns plain text (every token is a target, texts packed into blocks); ``--task chat``
learns conversations through the tokenizer's chat template with the loss on the assistant's tokens only (ChatML
is supplied for base models without a template). ``lora`` (default) trains low-rank adapters (peft);
``fine-tune`` trains the last ``--unfreeze N`` transformer blocks (or all). A bundle holds only what trained plus
the tokenizer; the base model is found again offline first and its sha256 checked.
"""
from __future__ import annotations

import math
import random
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from graft import bundle, strategies, training
from graft.data.conversations import Corpus, read_conversations, read_texts
from graft.errors import DataError, GraftError
from graft.generation.formatting import (IGNORE, chat_example, collate, pack_examples, packed_blocks,
                                        strided_windows)
from graft.generation.models import check_family, load_causal_lm, stop_ids
from graft.generation.speculative import greedy_with_draft
from graft.progress import log
from graft.tasks.base import Task, precision_option

SAMPLE_PROMPTS = 3


class CausalLM(training.Objective):
    """Token cross-entropy on target tokens; validation perplexity (exp of the mean target-token loss)."""

    monitor, mode = "val_loss", "min"

    def loss(self, model, batch):
        logits, target = target_logits(model, batch)
        return torch.nn.functional.cross_entropy(logits, target), len(target)

    def validate(self, model, loader, acc) -> dict[str, float]:
        return perplexity(model, loader)

    def describe(self, row: dict) -> str:
        return f"val perplexity {row['val_perplexity']:.3f}, token accuracy {row['val_token_accuracy']:.2%}"


def target_logits(model, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """fp32 next-token logits at target positions only, and their targets.

    The LM head over every position is the largest tensor of a step (4 x 256 tokens x a 49k vocabulary is 200 MB,
    then its fp32 copy, log-softmax and gradient); a chat example's targets are only the assistant's tokens, so
    the head runs on the transformer's hidden states where a label is set. Models whose body graft cannot find
    fall back to the full logits.
    """
    target = batch["labels"][:, 1:]
    keep = target != IGNORE
    split = _body_and_head(model)
    if split is None:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        return logits[keep].float(), target[keep]
    body, head, softcap = split
    hidden = body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    logits = head(hidden[:, :-1][keep])
    if softcap:  # gemma-2 style final-logit soft-capping, as the model's own forward applies it
        logits = torch.tanh(logits / softcap) * softcap
    return logits.float(), target[keep]


def _body_and_head(model):
    """The transformer body (hidden states), the LM head and the final soft-cap of a causal LM (peft-wrapped or
    not), or None."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    for body in (base.get_decoder() if hasattr(base, "get_decoder") else None, getattr(base, "base_model", None)):
        if body is not None and body is not base:
            return body, base.get_output_embeddings(), getattr(base.config, "final_logit_softcapping", None)
    return None


@torch.no_grad()
def perplexity(model, loader) -> dict[str, float]:
    """Mean target-token loss, its exp (perplexity) and next-token accuracy over ``loader``."""
    model.eval()
    device = training.device()
    total = correct = 0
    nll = 0.0
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        logits, target = target_logits(model, batch)
        nll += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
        correct += int((logits.argmax(-1) == target).sum())
        total += len(target)
    loss = nll / max(total, 1)
    return {"val_loss": loss, "val_perplexity": math.exp(min(loss, 50.0)),
            "val_token_accuracy": correct / max(total, 1), "target_tokens": total}


class TextGenerator(Task):
    """Fine-tune a causal LM: ``TextGenerator("smollm2-135m-instruct").fit("texts/")``, then ``predict([prompt])``.

    Strategies: ``lora`` (default; rank ``lora_r``), ``fine-tune`` (the last ``unfreeze`` blocks, or ``all``),
    ``auto`` (LoRA: it trains <1 % of the weights, fits a CPU, and does not forget). ``max_length``: tokens per
    example (texts are packed into blocks of it).
    """

    name = "generation"
    modality = "text"
    default_backbone = "smollm2-135m-instruct"
    strategy_choices = ("lora", "fine-tune", "auto")
    chat = False
    lora_dropout = 0.0  # dropout on the adapters' input keeps a copy of every adapted activation: 0.35 GiB here
    speculative = True  # CPU generation: packed fp32 decoder, and greedy tokens drafted by an int8 copy
    # batch 4: a LoRA step on 4 x 256 tokens peaked at 3.9 GiB here, batch 8 at 6 GiB, at the same examples/s
    defaults = {"epochs": 3, "lr": 2e-4, "batch_size": 4, "unfreeze": 2}

    def __init__(self, backbone: str | None = None, strategy: str = "auto", *, weights="pretrained",
                 epochs: int | None = None, lr: float | None = None, batch_size: int | None = None,
                 unfreeze: int | str | None = None, lora_r: int = 8, max_length: int = 256,
                 val_fraction: float = 0.1, limit: int | None = None, seed: int = 0, patience: int | None = 2,
                 grad_accum: int = 1, mixed_precision: str = "auto", checkpoint_dir: str | Path | None = None,
                 pack: bool = False):
        self.check_strategy(strategy)
        self.check_options(epochs=epochs, lr=lr, batch_size=batch_size, val_fraction=val_fraction,
                           patience=patience, grad_accum=grad_accum)
        self.backbone_name, self.strategy, self.weights = backbone or self.default_backbone, strategy, weights
        self.check_backbone(self.backbone_name)
        self.epochs, self.lr, self.batch_size, self.unfreeze = epochs, lr, batch_size, unfreeze
        self.lora_r, self.max_length, self.val_fraction, self.limit = lora_r, max_length, val_fraction, limit
        self.seed, self.patience, self.grad_accum, self.mixed_precision = seed, patience, grad_accum, mixed_precision
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.pack = pack
        self.model = self.tokenizer = self.resolved = None
        self._decoding = None  # (decoder, draft) copies for generation, built on first use
        self.history: list[dict] = []
        self.run_report: dict = {}

    @staticmethod
    def check_backbone(name: str) -> None:
        check_family(name)

    def option(self, name: str):
        value = getattr(self, name)
        return self.defaults[name] if value is None else value

    # ---- data --------------------------------------------------------------------------------------------
    def read(self, source) -> Corpus:
        corpus = read_conversations(source) if self.chat else read_texts(source)
        log(f"{source}: {len(corpus)} {'conversations' if self.chat else 'texts'}"
            + (f", {len(corpus.skipped)} skipped ({corpus.skipped[0]}{' ...' if len(corpus.skipped) > 1 else ''})"
               if corpus.skipped else ""))
        return corpus

    def examples(self, corpus: Corpus, scoring: bool = False) -> list[tuple[list[int], list[int]]]:
        """Training or validation examples; ``scoring`` (evaluate): long texts in strided windows instead of
        blocks, so every token is scored with context before it."""
        if not self.chat:
            if scoring:
                return strided_windows(self.tokenizer, corpus.texts, self.max_length, self.max_length // 2)
            return packed_blocks(self.tokenizer, corpus.texts, self.max_length)
        out = [chat_example(self.tokenizer, messages, self.max_length) for messages in corpus.conversations]
        return [e for e in out if e is not None]

    def _split(self, corpus: Corpus) -> tuple[Corpus, Corpus]:
        items = corpus.conversations if self.chat else corpus.texts
        order = list(range(len(items)))
        random.Random(self.seed).shuffle(order)
        if self.limit:
            order = order[:self.limit]
        n_val = max(1, round(self.val_fraction * len(order)))
        if len(order) - n_val < 1:
            raise DataError(f"{corpus.source}: {len(order)} example(s) is too few to split off validation: pass --val")
        def pick(idx: list[int]) -> Corpus:
            chosen = [items[i] for i in idx]
            return Corpus(corpus.source, conversations=chosen) if self.chat else Corpus(corpus.source, texts=chosen)

        return pick(order[n_val:]), pick(order[:n_val])

    def loader(self, examples, train: bool) -> DataLoader:
        return DataLoader(examples, batch_size=self.option("batch_size"), shuffle=train,
                          collate_fn=lambda batch: collate(batch, self.tokenizer.pad_token_id))

    # ---- model --------------------------------------------------------------------------------------------
    def load_base(self) -> None:
        self.model, self.tokenizer, self.resolved = load_causal_lm(self.backbone_name, self.weights)

    def prepare_strategy(self) -> str:
        """Freeze what stays pretrained; return a line saying what trains."""
        if self.strategy_used == "lora":
            from peft import LoraConfig, get_peft_model

            config = LoraConfig(task_type="CAUSAL_LM", r=self.lora_r, lora_alpha=2 * self.lora_r,
                                lora_dropout=self.lora_dropout)
            self.model = get_peft_model(self.model, config)
            return f"LoRA r={self.lora_r} on {sorted(self.model.peft_config['default'].target_modules)}"
        from graft.backbones.text import _transformer_layers

        strategies.freeze(self.model)
        _, layers = _transformer_layers(self.model)
        n = self.option("unfreeze")
        chosen = list(layers) if n == "all" else list(layers)[max(len(layers) - int(n), 0):]
        for module in chosen:
            for p in module.parameters():
                p.requires_grad_(True)
        return f"the last {len(chosen)} of {len(layers)} blocks"

    def auto_strategy(self) -> tuple[str, str]:
        return "lora", "adapters train <1 % of the weights: fits a CPU's memory and keeps what the model knew"

    def objective(self) -> training.Objective:
        return CausalLM()

    def perplexity(self, loader, model=None) -> dict[str, float]:
        return perplexity(model or self.model, loader)

    def precision(self) -> str:
        """``auto``: bf16 autocast where the hardware computes bf16 natively (measured 1.45x faster LoRA steps on
        an AVX512-BF16 CPU), fp32 elsewhere; the trained weights and the adapters stay fp32 either way."""
        return training.resolve_precision(self.mixed_precision)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {name: p.detach() for name, p in self.model.named_parameters() if p.requires_grad}

    # ---- fitting -------------------------------------------------------------------------------------------
    def fit(self, data, val=None) -> TextGenerator:
        start = time.perf_counter()
        torch.manual_seed(self.seed)
        self._decoding = None
        corpus = self.read(data)
        train, val_corpus = (corpus, self.read(val)) if val is not None else self._split(corpus)
        self.choose_strategy(self.auto_strategy)
        self.load_base()
        train_examples, val_examples = self.examples(train), self.examples(val_corpus)
        if self.pack and self.chat:
            train_examples = pack_examples(train_examples, self.max_length)
        if not train_examples:
            raise DataError(f"{data}: no example keeps a target token within --max-length {self.max_length}")
        val_loader = self.loader(val_examples, False)
        base = self.perplexity(val_loader)
        what = self.prepare_strategy()
        params = [p for p in self.model.parameters() if p.requires_grad]
        log(f"{self.strategy_used}: training {what} ({sum(p.numel() for p in params):,} parameters); "
            f"{len(train_examples)} training / {len(val_examples)} validation examples; base model's validation "
            f"perplexity {base['val_perplexity']:.3f}")
        settings = training.TrainSettings(epochs=self.option("epochs"), lr=self.option("lr"), weight_decay=0.0,
                                          schedule="cosine", warmup_ratio=0.05, patience=self.patience,
                                          grad_accum=self.grad_accum, mixed_precision=self.precision(),
                                          max_grad_norm=1.0)
        self.history = training.fit(self.model, [{"params": params}], self.loader(train_examples, True), val_loader,
                                    settings, phase=self.strategy_used, seed=self.seed,
                                    checkpoint_dir=self.checkpoint_dir, objective=self.objective())
        tuned = self.perplexity(val_loader)
        self.run_report = {"data_check": corpus.report(), "train_examples": len(train_examples),
                           "val_examples": len(val_examples), "base_model": base, "fine_tuned": tuned,
                           "perplexity_change": tuned["val_perplexity"] / base["val_perplexity"] - 1,
                           "samples": self._samples(val_corpus),
                           "fit_seconds": round(time.perf_counter() - start, 2)}
        log(f"validation perplexity {base['val_perplexity']:.3f} -> {tuned['val_perplexity']:.3f} "
            f"({100 * self.run_report['perplexity_change']:+.1f} %)")
        return self

    def _samples(self, corpus: Corpus) -> list[dict]:
        """Three generations for the report: prompts from validation examples (the user turn, or a text's start)."""
        if self.chat:
            prompts = [next(m["content"] for m in c if m["role"] == "user")
                       for c in corpus.conversations[:SAMPLE_PROMPTS]]
        else:
            prompts = [" ".join(t.split()[:12]) for t in corpus.texts[:SAMPLE_PROMPTS]]
        self._decoding = (self.model, None)  # no decoding copies while a fit holds its training memory
        try:
            return self.predict(prompts, max_new_tokens=40)
        finally:
            self._decoding = None

    # ---- using a model -------------------------------------------------------------------------------------
    def encode_prompt(self, prompt: str | list[dict]) -> str:
        if not self.chat:
            return prompt if isinstance(prompt, str) else prompt[-1]["content"]
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    @torch.inference_mode()
    def generate(self, prompt, max_new_tokens: int = 128, temperature: float = 0.0, top_p: float = 1.0,
                 seed: int | None = None, streamer=None, min_new_tokens: int | None = None) -> str:
        """One reply (chat: ``prompt`` may be the conversation so far as messages)."""
        self.require_model()
        if seed is not None:
            torch.manual_seed(seed)
        text = self.encode_prompt(prompt)
        inputs = self.tokenizer(text, return_tensors="pt", add_special_tokens=not self.chat)
        self.model.eval()
        sample = temperature > 0
        decoder, draft = self.decoders()
        if draft is not None and not sample and min_new_tokens is None:
            out = greedy_with_draft(decoder, draft, inputs["input_ids"], max_new_tokens, stop_ids(self.tokenizer),
                                    streamer=streamer)
        else:
            out = decoder.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=sample,
                                   temperature=temperature if sample else None, top_p=top_p if sample else None,
                                   top_k=None, pad_token_id=self.tokenizer.pad_token_id,
                                   eos_token_id=stop_ids(self.tokenizer), streamer=streamer,
                                   min_new_tokens=min_new_tokens)
        return self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    def decoders(self):
        """(model to decode with, draft or None). On a CPU: an fp32 copy with oneDNN-packed weights, and an
        int8-weight draft whose proposals it checks (graft/generation/speculative.py); measured 1.9x the
        tokens/s of transformers' ``generate`` with the same greedy tokens. Elsewhere, or with ``fast=False``,
        or for models over 1.5B parameters (the copies cost memory): the model itself, no draft."""
        if self._decoding is None:
            from graft.generation.speculative import int8_draft, packed_model, supports_drafting
            from graft.runtime import configure

            small = sum(p.numel() for p in self.model.parameters()) <= 1.5e9
            if training.device().type == "cpu" and configure().fast and self.speculative and small:
                decoder = packed_model(self.model) or self.model
                draft = int8_draft(self.model) if supports_drafting(decoder) else None
                self._decoding = (decoder, draft)
            else:
                self._decoding = (self.model, None)
        return self._decoding

    def predict(self, inputs, max_new_tokens: int = 128, temperature: float = 0.0, top_p: float = 1.0,
                seed: int | None = None) -> list[dict]:
        """For each prompt its completion (greedy unless ``temperature`` > 0)."""
        prompts = [inputs] if isinstance(inputs, str) else list(inputs)
        return [{"prompt": p, "completion": self.generate(p, max_new_tokens, temperature, top_p, seed)}
                for p in prompts]

    def evaluate(self, data) -> dict:
        """Perplexity and token accuracy on target tokens, for this model and for its base model on the same
        examples (so the gain is visible), plus three sample generations."""
        self.require_model()
        corpus = self.read(data)
        loader = self.loader(self.examples(corpus, scoring=True), False)
        tuned = perplexity(self.model, loader)
        base = self._base_perplexity(loader)
        return {"examples": len(corpus), "skipped": len(corpus.skipped), "fine_tuned": tuned, "base_model": base,
                "perplexity_change": tuned["val_perplexity"] / base["val_perplexity"] - 1 if base else None,
                "samples": self._samples(corpus)}

    def _base_perplexity(self, loader) -> dict:
        if self.strategy_used == "lora":
            with self.model.disable_adapter():
                return perplexity(self.model, loader)
        base, _, _ = load_causal_lm(self.backbone_name, self.weights if self.weights != "pretrained" else "pretrained")
        return perplexity(base, loader)

    # ---- saving and loading -----------------------------------------------------------------------------------
    def config(self) -> dict:
        import graft

        return {"graft_version": graft.__version__,
                "base_model": {"name": self.backbone_name, "weights_source": self.resolved.source if self.resolved
                               else None, "weights_sha256": self.resolved.sha256 if self.resolved else None},
                "strategy": {"requested": self.strategy, "used": self.strategy_used, "reason": self.strategy_reason,
                             "lora_r": self.lora_r if self.strategy_used == "lora" else None,
                             "unfreeze": self.option("unfreeze") if self.strategy_used == "fine-tune" else None},
                "max_length": self.max_length, "chat": self.chat, "pack": self.pack,
                "training": {name: self.option(name) for name in ("epochs", "lr", "batch_size")}, "seed": self.seed}

    def save(self, directory: str | Path) -> Path:
        """What trained (adapters, or the unfrozen blocks), the tokenizer, and the reports."""
        self.require_model()
        directory = Path(directory)
        bundle.save_weights(directory, self.trainable_state(), {"task": self.name, **self.config()})
        self.tokenizer.save_pretrained(directory / "tokenizer")
        bundle.write_json(directory / "metrics.json", self.run_report)
        if self.history:
            bundle.write_history(directory / "history.csv", self.history)
        return directory

    @classmethod
    def from_bundle(cls, directory: Path, config: dict) -> TextGenerator:
        spec, strategy = config["base_model"], config["strategy"]
        self = cls(spec["name"], strategy["requested"], lora_r=strategy.get("lora_r") or 8,
                   unfreeze=strategy.get("unfreeze"), max_length=config.get("max_length", 256))
        return self._restore(directory, config)

    def _restore(self, directory: Path, config: dict):
        """Base model, saved tokenizer, strategy and trained tensors of a bundle, into this new instance."""
        from transformers import AutoTokenizer

        spec, strategy = config["base_model"], config["strategy"]
        self.strategy_used, self.strategy_reason = strategy["used"], strategy["reason"]
        self.load_base()
        if spec.get("weights_sha256") and self.resolved and self.resolved.sha256 != spec["weights_sha256"]:
            log(f"note: {spec['name']}'s weights here differ from those this model was trained from")
        self.tokenizer = AutoTokenizer.from_pretrained(directory / "tokenizer")
        self.prepare_strategy()
        state = bundle.load_weights(directory, config)
        expected = set(self.trainable_state())
        if set(state) != expected:
            raise bundle.BundleError(f"{directory}: its {len(state)} tensors do not fit {spec['name']} with "
                                     f"{strategy['used']} ({len(expected)} expected)")
        self.model.load_state_dict(state, strict=False)
        strategies.freeze(self.model)
        self.model.eval()
        return self

    # ---- the command line --------------------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--lora-r", type=int, default=8, help="LoRA rank (default 8)")
        group.add_argument("--max-length", type=int, default=256, help="tokens per example (default 256)")
        group.add_argument("--limit", type=int, help="use only this many examples (seeded choice)")
        group.add_argument("--pack", action="store_true", help="chat: pack whole conversations into rows of "
                           "--max-length tokens (less padding, fewer steps; plain text is always packed)")
        group.add_argument("--fp32", action="store_true", help="train in fp32 even where the CPU/GPU computes bf16 "
                           "natively (default: bf16 autocast there)")

    @classmethod
    def options_from_args(cls, args) -> dict:
        return dict(weights=args.weights or "pretrained", epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                    unfreeze=args.unfreeze, lora_r=args.lora_r, max_length=args.max_length,
                    val_fraction=args.val_fraction, limit=args.limit, seed=args.seed, patience=args.patience,
                    grad_accum=args.grad_accum, mixed_precision=precision_option(args),
                    pack=getattr(args, "pack", False))

    @classmethod
    def prediction_options(cls, args) -> dict:
        return {"max_new_tokens": args.max_new_tokens, "temperature": args.temperature, "top_p": args.top_p,
                "seed": args.seed}

    def prediction_inputs(self, args) -> list[str]:
        prompts = list(args.prompt or []) + list(args.text or [])
        for name in args.inputs:
            if not Path(name).is_file():
                raise GraftError(f"{name}: no such file (pass prompts with --prompt)")
            prompts += [line.strip() for line in Path(name).read_text(encoding="utf-8").splitlines() if line.strip()]
        if not prompts:
            raise GraftError('nothing to generate from: give --prompt "..." or a file of prompts (one per line)')
        return prompts

    @classmethod
    def from_zoo(cls, name: str, **options) -> TextGenerator | None:
        """A zoo language model as published (chat: only one with a chat template of its own)."""
        from graft.backbones import get_cfg
        from graft.generation.models import CHATML

        if get_cfg(name).family != "lm":
            return None
        self = cls(name, "auto")
        self.load_base()
        if self.chat and self.tokenizer.chat_template == CHATML:
            return None
        self.strategy_used, self.strategy_reason = "pretrained", "as published, not fine-tuned"
        return self

    @staticmethod
    def summarise_config(config: dict) -> dict:
        return {"labels": None, "backbone": config.get("base_model")}

    def summary(self) -> str:
        r = self.run_report
        return (f"({self.strategy_used}): validation perplexity {r['base_model']['val_perplexity']:.3f} -> "
                f"{r['fine_tuned']['val_perplexity']:.3f} ({100 * r['perplexity_change']:+.1f} %)")

    @staticmethod
    def format_report(report: dict) -> str:
        tuned, base = report["fine_tuned"], report["base_model"]
        lines = [f"perplexity {tuned['val_perplexity']:.3f} (base model {base['val_perplexity']:.3f}, "
                 f"{100 * report['perplexity_change']:+.1f} %), token accuracy {tuned['val_token_accuracy']:.2%} "
                 f"(base {base['val_token_accuracy']:.2%}) on {tuned['target_tokens']} target tokens of "
                 f"{report['examples']} examples"]
        lines += [f"> {s['prompt']}\n{s['completion']}" for s in report["samples"]]
        return "\n".join(lines)

    @staticmethod
    def format_predictions(results: list[dict]) -> str:
        return "\n\n".join(r["completion"] if len(results) == 1 else f"> {r['prompt']}\n{r['completion']}"
                           for r in results)


class ChatModel(TextGenerator):
    """``TextGenerator`` on conversations: chat template, loss on the assistant's tokens only."""

    name = "chat"
    chat = True
