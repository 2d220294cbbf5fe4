"""Translation by transfer: a pretrained multilingual language model, or a translation model, fine-tuned on your
sentence pairs.

``graft fit pairs.tsv --task translation --src en --tgt ur``. The model reads ``English: <source>`` then
``Urdu:`` and learns to continue with the translation and its end token; the loss is on the translation's tokens
only. The default model is the multilingual gemma-3-270m (packaged; offline), any causal LM in the zoo or on the
hub works the same way. ``lora`` (default) trains low-rank adapters on every linear layer of the transformer;
``fine-tune`` the last ``--unfreeze N`` blocks.

Offline there is a second route: ``--backbone multilingual-e5-small`` (or any BERT-family encoder) warm-starts an
encoder-decoder from the pretrained encoder (graft/translation/warmstart.py; Rothe et al. 2020): the decoder is
a copy of the encoder with new cross-attention. ``fine-tune`` trains all of it, ``feature-extraction`` keeps
the encoder frozen and trains the decoder and its cross-attention.

An encoder-decoder checkpoint (OPUS-MT, mBART-50, NLLB-200, M2M100, T5: a hub id or a local folder) is used as
it is: the source goes to its encoder, the languages are set its family's way (graft/translation/seq2seq.py), and
``auto`` fine-tunes all of it (it already translates; the fit adapts it to your domain).

Quality is BLEU and chrF (sacrebleu, with signatures) on held-out pairs, for the model and for its base model
with the same prompt, next to a copy-the-source baseline, so the gain from transfer is in every report.
Prediction is batched, sorted by length, greedy or ``--beams N``, with the output length bounded by the source's.
"""
from __future__ import annotations

import random
import time
from pathlib import Path

import torch

from graft.errors import DataError, GraftError
from graft.generation.formatting import IGNORE
from graft.generation.models import stop_ids
from graft.progress import log
from graft.tasks.generation import TextGenerator
from graft.translation import languages
from graft.translation.data import Pairs, read_pairs
from graft.translation.metrics import scores
from graft.translation.seq2seq import Seq2Seq, Seq2SeqLoss, is_encoder_decoder, licence
from graft.translation.seq2seq import perplexity as seq2seq_perplexity

SCORED_SENTENCES = 200  # validation pairs translated after a fit (generation is the slow part of a report)
SAMPLES = 3
DECODE_BATCH = 16
FINE_TUNE_LR = 5e-5
# a warm-started encoder-decoder (new cross-attention): measured on 480 en->zh pairs, 30 steps, validation
# perplexity 777 at 5e-4 against 2,075 at 5e-5 (Rothe et al. 2020 peak near 2.5e-4 after a long warm-up)
WARM_START_LR = 5e-4
# validation pairs at most: perplexity is scored before, during and after a fit, and 500 pairs measure it well;
# a tenth of a 30k-pair memory would cost more than the training itself on a CPU
MAX_VALIDATION = 500


def prompt_text(source: str, src: str, tgt: str) -> str:
    """What the model reads before writing the translation (one line each, so the base model can follow it)."""
    return f"{languages.name(src)}: {' '.join(source.split())}\n{languages.name(tgt)}:"


def new_token_budget(source_tokens: int) -> int:
    """Most tokens a translation may take: three times the source's plus a margin (Urdu and Arabic can take
    twice an English sentence's tokens), never a fixed 20 that cuts long sentences short."""
    return min(3 * source_tokens + 16, 512)


class Translator(TextGenerator):
    """``Translator(src="en", tgt="zh").fit("pairs.tsv")``, then ``predict(["Open the file"])``."""

    name = "translation"
    default_backbone = "gemma-3-270m"
    strategy_choices = ("lora", "fine-tune", "feature-extraction", "auto")
    # LoRA on every linear layer: a new language direction needs more than the attention's query/value
    lora_targets = "all-linear"
    speculative = False  # translations are decoded in batches (drafting helps one sequence at a time)
    # batch 16 of ~60-token examples: a LoRA step fits in ~3 GiB here
    defaults = {"epochs": 2, "lr": 5e-4, "batch_size": 16, "unfreeze": 2}

    def option(self, name: str):
        """Defaults, with the learning rate by strategy: 5e-4 for adapters, 5e-5 when whole layers train (the
        usual rate for fine-tuning a pretrained translation model; higher rates undo what it knew), 5e-4 for a
        warm-started encoder-decoder, whose cross-attention starts from nothing."""
        if name == "lr" and self.lr is None and getattr(self, "strategy_used", None) in ("fine-tune",
                                                                                         "feature-extraction"):
            seq2seq = getattr(self, "seq2seq", None)
            warm = seq2seq is not None and seq2seq.kind == "encoder-decoder"
            return WARM_START_LR if warm else FINE_TUNE_LR
        return super().option(name)

    def __init__(self, backbone: str | None = None, strategy: str = "auto", *, src: str = "en", tgt: str = "zh",
                 beams: int = 1, max_length: int = 160, **options):
        super().__init__(backbone, strategy, max_length=max_length, **options)
        self.src, self.tgt = languages.code(src), languages.code(tgt)
        if self.src == self.tgt:
            raise GraftError(f"--src and --tgt are both {self.src!r}: name two languages")
        self.beams = beams
        self.seq2seq: Seq2Seq | None = None  # set when the model is an encoder-decoder
        self.licence = None

    # ---- data --------------------------------------------------------------------------------------------
    def read(self, source) -> Pairs:
        pairs = read_pairs(source, self.src, self.tgt)
        log(pairs.summary())
        if not len(pairs):
            raise DataError(f"{source}: no usable {self.src}->{self.tgt} pairs (see the skipped counts above)")
        return pairs

    def _split(self, pairs: Pairs) -> tuple[Pairs, Pairs]:
        """Validation by source string: every translation of one source lands on one side."""
        strings = sorted(set(pairs.sources))
        random.Random(self.seed).shuffle(strings)
        n_val = min(max(1, round(self.val_fraction * len(strings))), MAX_VALIDATION)
        if len(strings) - n_val < 1:
            raise DataError(f"{pairs.source}: {len(strings)} source string(s) is too few to split off "
                            "validation: pass --val")
        held = set(strings[:n_val])
        train = [i for i in range(len(pairs)) if pairs.sources[i] not in held]
        val = [i for i in range(len(pairs)) if pairs.sources[i] in held]
        if self.limit:
            random.Random(self.seed).shuffle(train)
            train = sorted(train[:self.limit])
        return pairs.subset(train), pairs.subset(val)

    def example(self, source: str, target: str) -> tuple[list[int], list[int]] | None:
        """(input ids, labels): the prompt (not a target) then the translation and the end token (targets); for an
        encoder-decoder, the source's ids and the target's."""
        if self.seq2seq is not None:
            return self.seq2seq.example(source, target, self.max_length)
        prompt = self.tokenizer(prompt_text(source, self.src, self.tgt))["input_ids"]
        answer = self.tokenizer(" " + target.strip(), add_special_tokens=False)["input_ids"]
        answer = answer + [self.tokenizer.eos_token_id]
        if len(prompt) + len(answer) > self.max_length:
            return None
        return prompt + answer, [IGNORE] * len(prompt) + answer

    def examples(self, pairs: Pairs, scoring: bool = False) -> list[tuple[list[int], list[int]]]:
        out = [self.example(s, t) for s, t in zip(pairs.sources, pairs.targets)]
        kept = [e for e in out if e is not None]
        if len(kept) < len(out):
            log(f"{len(out) - len(kept)} pair(s) longer than --max-length {self.max_length} tokens left out")
        return kept

    def loader(self, examples, train: bool):
        if self.seq2seq is None:
            return super().loader(examples, train)
        from torch.utils.data import DataLoader

        return DataLoader(examples, batch_size=self.option("batch_size"), shuffle=train, collate_fn=self.seq2seq.collate)

    # ---- model --------------------------------------------------------------------------------------------
    @staticmethod
    def check_backbone(name: str) -> None:
        from graft.backbones import get_cfg

        if "/" in name or Path(name).exists() or get_cfg(name).family in ("lm", "text"):
            return
        raise GraftError(f"'{name}' can neither write text nor start an encoder-decoder: translation takes a "
                         "language model or a text encoder (see `graft models --family lm` / `--family text`)")

    def encoder_folder(self) -> Path | None:
        """A zoo text encoder's transformers folder (converted once where it is packaged in another format), to
        warm-start an encoder-decoder from; None for other backbones."""
        from graft.backbones import get_cfg

        if "/" in self.backbone_name or Path(self.backbone_name).exists():
            return None
        cfg = get_cfg(self.backbone_name)
        if cfg.family != "text":
            return None
        from graft.backbones import resolve
        from graft.backbones.weights import transformers_folder

        explicit = None if self.weights == "pretrained" else self.weights
        self.resolved = transformers_folder(cfg, resolve(cfg, explicit))
        self.licence = cfg.licence
        return self.resolved.location

    def seq2seq_folder(self) -> Path | None:
        """The model folder when the backbone is an encoder-decoder (a local folder, or a hub id resolved offline
        first), else None (a causal LM: the zoo's, or a hub one)."""
        name = self.backbone_name
        if Path(name).is_dir():
            return Path(name) if is_encoder_decoder(Path(name)) else None
        if "/" not in name:
            return None
        from graft.backbones import get_cfg, resolve

        folder = resolve(get_cfg(name), None if self.weights == "pretrained" else self.weights).location
        return folder if is_encoder_decoder(folder) else None

    def load_base(self) -> None:
        encoder = self.encoder_folder()
        if encoder is not None:
            from graft.translation.warmstart import warm_started

            self.model, self.tokenizer = warm_started(encoder)
            self.seq2seq = Seq2Seq(self.model, self.tokenizer, self.src, self.tgt)
            log(f"{self.backbone_name}: encoder-decoder warm-started from it (cross-attention new; licence: "
                f"{self.licence})")
            return
        folder = self.seq2seq_folder()
        if folder is None:
            super().load_base()
            self.licence = None
            return
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from graft.backbones.weights import ResolvedWeights, file_sha256

        self.model = AutoModelForSeq2SeqLM.from_pretrained(folder, local_files_only=True).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.resolved = ResolvedWeights(folder, f"folder {folder}", file_sha256(folder))
        self.seq2seq = Seq2Seq(self.model, self.tokenizer, self.src, self.tgt)
        self.licence = licence(self.backbone_name)
        log(f"{self.backbone_name}: a {self.seq2seq.kind} translation model (licence: {self.licence})")

    def auto_strategy(self) -> tuple[str, str]:
        if self.encoder_folder() is not None:
            return "fine-tune", ("a warm-started encoder-decoder trains all of it (its cross-attention is new; "
                                 "Rothe et al. 2020 found full training best)")
        if self.seq2seq_folder() is not None:
            return "fine-tune", ("an encoder-decoder already translates: fine-tuning all of it adapts it to your "
                                 "texts (pass --strategy lora for adapters only)")
        return super().auto_strategy()

    def objective(self):
        return Seq2SeqLoss() if self.seq2seq is not None else super().objective()

    def perplexity(self, loader, model=None) -> dict[str, float]:
        if self.seq2seq is None:
            return super().perplexity(loader, model)
        return seq2seq_perplexity(model or self.model, loader)

    def prepare_strategy(self) -> str:
        warm = self.seq2seq is not None and self.seq2seq.kind == "encoder-decoder"
        if self.strategy_used == "feature-extraction":
            if not warm:
                raise GraftError("--strategy feature-extraction is for an encoder-decoder warm-started from a text "
                                 "encoder (--backbone multilingual-e5-small); use lora or fine-tune")
            for name, p in self.model.named_parameters():  # the shared embeddings are the encoder's: frozen too
                p.requires_grad_(not name.startswith("encoder.") and "word_embeddings" not in name)
            return "the decoder and its new cross-attention (encoder and embeddings frozen)"
        if self.seq2seq is not None and self.strategy_used == "fine-tune":
            for p in self.model.parameters():
                p.requires_grad_(True)
            return "every layer"
        if self.strategy_used != "lora":
            return super().prepare_strategy()
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(task_type="SEQ_2_SEQ_LM" if self.seq2seq else "CAUSAL_LM", r=self.lora_r, lora_alpha=2 * self.lora_r,
                            lora_dropout=self.lora_dropout, target_modules=self.lora_targets)
        self.model = get_peft_model(self.model, config)
        return f"LoRA r={self.lora_r} on {sorted(self.model.peft_config['default'].target_modules)}"

    def fit(self, data, val=None) -> Translator:
        super().fit(data, val)
        held = self._validation_pairs
        start = time.perf_counter()
        report = self.score(held)
        self.run_report["validation"] = report
        self.run_report["fit_seconds"] = round(self.run_report["fit_seconds"] + time.perf_counter() - start, 2)
        log(f"validation ({report['fine_tuned']['sentences']} pairs): chrF {report['fine_tuned']['chrf']:.1f}, "
            f"BLEU {report['fine_tuned']['bleu']:.1f} ({_comparisons(report)})")
        return self

    def _samples(self, pairs: Pairs) -> list[dict]:
        self._validation_pairs = pairs  # fit() scores it next; the samples come from its report
        return []

    # ---- using a model -------------------------------------------------------------------------------------
    @torch.inference_mode()
    def translate(self, sources: list[str], beams: int | None = None, batch_size: int = DECODE_BATCH,
                  model=None) -> list[str]:
        """Translations of ``sources``: batches of similar length (less padding), greedy or beam search, each
        stopped at the end token or a new line, bounded by ``new_token_budget``."""
        self.require_model()
        model = model or self.decoders()[0]
        model.eval()
        if self.seq2seq is not None:
            return self._translate_seq2seq(model, sources, beams or self.beams, batch_size)
        prompts = [prompt_text(s, self.src, self.tgt) for s in sources]
        lengths = [len(ids) for ids in self.tokenizer(prompts)["input_ids"]]
        order = sorted(range(len(prompts)), key=lengths.__getitem__)
        out: list[str] = [""] * len(prompts)
        stops = self.stop_tokens()
        for first in range(0, len(order), batch_size):
            rows = order[first:first + batch_size]
            batch = self.tokenizer([prompts[i] for i in rows], return_tensors="pt", padding=True)
            budget = new_token_budget(max(lengths[i] for i in rows))
            generated = model.generate(**batch, max_new_tokens=budget, do_sample=False, num_beams=beams or self.beams,
                                       pad_token_id=self.tokenizer.pad_token_id, eos_token_id=stops,
                                       top_p=None, top_k=None, temperature=None)
            texts = self.tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
            for i, text in zip(rows, texts):
                out[i] = text.strip().split("\n")[0].strip()
        return out

    def _translate_seq2seq(self, model, sources: list[str], beams: int, batch_size: int) -> list[str]:
        lengths = [len(ids) for ids in self.tokenizer(sources)["input_ids"]]
        order = sorted(range(len(sources)), key=lengths.__getitem__)
        out: list[str] = [""] * len(sources)
        for first in range(0, len(order), batch_size):
            rows = order[first:first + batch_size]
            batch = self.seq2seq.encode_sources([sources[i] for i in rows])
            generated = model.generate(**batch, max_new_tokens=new_token_budget(batch["input_ids"].shape[1]),
                                       num_beams=beams, do_sample=False, **self.seq2seq.generate_options())
            for i, text in zip(rows, self.tokenizer.batch_decode(generated, skip_special_tokens=True)):
                out[i] = text.strip()
        return out

    def decoders(self):
        """(model to decode with, None). On a CPU: a copy with the adapters merged and oneDNN-packed fp32 weights
        laid out for a batch (same arithmetic; see graft/generation/speculative.py); elsewhere the model."""
        if self._decoding is None and self.seq2seq is not None:
            self._decoding = (self.model, None)
        if self._decoding is None:
            from graft.generation.speculative import packed_model
            from graft.runtime import configure
            from graft import training

            decoder = None
            if training.device().type == "cpu" and configure().fast:
                decoder = packed_model(self.model, rows=DECODE_BATCH)
            self._decoding = (decoder or self.model, None)
        return self._decoding

    def stop_tokens(self) -> list[int]:
        """The end token(s), and the new-line token: the prompt is line-based, so a base model ends there too."""
        newline = self.tokenizer("\n", add_special_tokens=False)["input_ids"]
        return stop_ids(self.tokenizer) + (newline[-1:] if len(newline) == 1 else [])

    def predict(self, inputs, beams: int | None = None, **_ignored) -> list[dict]:
        sources = [inputs] if isinstance(inputs, str) else list(inputs)
        return [{"source": s, "translation": t} for s, t in zip(sources, self.translate(sources, beams))]

    def score(self, pairs: Pairs, limit: int | None = SCORED_SENTENCES) -> dict:
        """chrF / BLEU of this model, its base model (same prompt) and of copying the source, on ``pairs``."""
        chosen = pairs if limit is None or len(pairs) <= limit else pairs.subset(
            sorted(random.Random(self.seed).sample(range(len(pairs)), limit)))
        tuned = self.translate(chosen.sources)
        base = self._base_translations(chosen.sources)
        report = {"fine_tuned": scores(tuned, chosen.targets, self.tgt),
                  "base_model": scores(base, chosen.targets, self.tgt) if base is not None else None,
                  "copy_source": scores(list(chosen.sources), chosen.targets, self.tgt),
                  "samples": [{"source": s, "reference": r, "translation": t}
                              for s, r, t in list(zip(chosen.sources, chosen.targets, tuned))[:SAMPLES]]}
        return report

    def _base_translations(self, sources: list[str]) -> list[str] | None:
        if self.strategy_used == "pretrained" or (self.seq2seq is not None and self.seq2seq.kind == "encoder-decoder"):
            return None  # a warm-started model's cross-attention is untrained: it has no base translations
        if self.strategy_used == "lora":
            with self.model.disable_adapter():
                return self.translate(sources, model=self.model)
        base = type(self)(self.backbone_name, src=self.src, tgt=self.tgt, weights=self.weights, beams=self.beams)
        base.load_base()
        base.strategy_used = "pretrained"
        return base.translate(sources)

    def evaluate(self, data) -> dict:
        """BLEU / chrF on every pair of ``data``: this model, its base model and the copy-the-source baseline."""
        self.require_model()
        pairs = self.read(data)
        return {"model": self.backbone_name, "strategy": self.strategy_used, "pairs": len(pairs),
                "skipped": pairs.report()["skipped_by_reason"], "src": self.src, "tgt": self.tgt,
                **self.score(pairs, limit=None)}

    # ---- saving and loading -----------------------------------------------------------------------------------
    def config(self) -> dict:
        return {**super().config(), "src": self.src, "tgt": self.tgt, "beams": self.beams,
                "architecture": "encoder-decoder" if self.seq2seq else "decoder-only", "licence": self.licence}

    @classmethod
    def from_bundle(cls, directory: Path, config: dict) -> Translator:
        spec, strategy = config["base_model"], config["strategy"]
        self = cls(spec["name"], strategy["requested"], src=config["src"], tgt=config["tgt"],
                   beams=config.get("beams", 1), lora_r=strategy.get("lora_r") or 8,
                   unfreeze=strategy.get("unfreeze"), max_length=config.get("max_length", 160))
        return self._restore(directory, config)

    # ---- the command line --------------------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--src", default="en", help="source language, an ISO 639-1 code (default en)")
        group.add_argument("--tgt", help="target language, an ISO 639-1 code: zh, ar, ur, ... (required)")
        group.add_argument("--lora-r", type=int, default=8, help="LoRA rank (default 8)")
        group.add_argument("--max-length", type=int, default=160, help="tokens of prompt + translation (default 160)")
        group.add_argument("--limit", type=int, help="use only this many training pairs (seeded choice)")
        group.add_argument("--fp32", action="store_true", help="train in fp32 even where the CPU/GPU computes bf16 "
                           "natively (default: bf16 autocast there)")

    @classmethod
    def options_from_args(cls, args) -> dict:
        if not args.tgt:
            raise GraftError("--task translation needs --tgt (the target language: zh, ar, ur, ...)")
        options = super().options_from_args(args)
        options.pop("pack")
        return {**options, "src": args.src, "tgt": args.tgt}

    @classmethod
    def prediction_options(cls, args) -> dict:
        return {"beams": getattr(args, "beams", None)}

    def prediction_inputs(self, args) -> list[str]:
        texts = list(args.text or []) + list(getattr(args, "prompt", None) or [])
        for name in [*args.inputs, *(getattr(args, "file", None) or [])]:
            path = Path(name)
            if not path.is_file():
                raise GraftError(f"{name}: no such file (pass sentences with --text)")
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError as exc:
                raise GraftError(f"{name}: not UTF-8 text (byte {exc.start}); translate a text file, one sentence "
                                 "per line") from None
            texts += [line.strip() for line in lines if line.strip()]
        if not texts:
            raise GraftError('nothing to translate: give --text "..." or a file with one sentence per line')
        return texts

    @classmethod
    def from_zoo(cls, name: str, src: str = "en", tgt: str | None = None, **_options) -> Translator | None:
        """A pretrained model translating as it is (`graft evaluate MODEL DATA --task translation --tgt zh`): a
        translation checkpoint with its language tokens, or a language model with graft's prompt; so the gain
        from fine-tuning can be measured. None without a target language."""
        if not tgt:
            return None
        cls.check_backbone(name)
        self = cls(name, "auto", src=src, tgt=tgt)
        if self.encoder_folder() is not None:
            raise GraftError(f"{name} is a text encoder: an encoder-decoder started from it translates nothing "
                             "before training (fit it with `graft fit DATA --task translation`)")
        self.load_base()
        self.strategy_used, self.strategy_reason = "pretrained", "as published, not fine-tuned"
        return self

    @classmethod
    def zoo_options(cls, args) -> dict:
        if not getattr(args, "tgt", None):
            raise GraftError("--task translation needs --tgt (the target language: zh, ar, ur, ...)")
        return {"src": getattr(args, "src", None) or "en", "tgt": args.tgt}

    def summary(self) -> str:
        v = self.run_report["validation"]
        return (f"({self.strategy_used}, {self.src}->{self.tgt}): validation chrF {v['fine_tuned']['chrf']:.1f} "
                f"({_comparisons(v)})")

    @staticmethod
    def format_report(report: dict) -> str:
        lines = [f"{report['model']} ({report['strategy']}), {report['src']}->{report['tgt']} on {report['pairs']} pairs:"]
        for key, label in (("fine_tuned", "this model"), ("base_model", "base model"), ("copy_source", "copy source")):
            s = report.get(key)
            if s:
                lines.append(f"  {label:<12} chrF {s['chrf']:6.2f}  BLEU {s['bleu']:6.2f}"
                             + (f"  (Urdu letters folded: chrF {s['chrf_normalised']:.2f})" if "chrf_normalised" in s
                                else ""))
        lines.append(f"  {report['fine_tuned']['chrf_signature']}; {report['fine_tuned']['bleu_signature']}")
        lines += [f"> {s['source']}\n  {s['translation']}\n  (reference: {s['reference']})" for s in report["samples"]]
        return "\n".join(lines)

    @staticmethod
    def format_predictions(results: list[dict]) -> str:
        return "\n".join(r["translation"] for r in results)


def _comparisons(report: dict) -> str:
    base = report.get("base_model")
    return (f"base model chrF {base['chrf']:.1f}, " if base else "") + \
        f"copying the source {report['copy_source']['chrf']:.1f}"
