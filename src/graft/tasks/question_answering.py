"""Extractive question answering: a pretrained encoder plus a start/end span head, fine-tuned on
question-context-answer triples (SQuAD JSON, JSONL or CSV).

The model is transformers' ``AutoModelForQuestionAnswering`` (the encoder and a ``qa_outputs`` layer of two
scores per token), so checkpoints already fine-tuned on SQuAD load with their head and can be scored as they
are. Long contexts are read in overlapping windows (``graft.qa.spans``). Strategies: ``fine-tune`` (default;
every layer, or the last ``--unfreeze N``), ``lora`` (adapters on the attention, merged into the encoder when
saved) and ``feature-extraction`` (a frozen encoder: published figures put it far behind, F1 16 vs 88.5 for
BERT-base on SQuAD, and graft says so).
"""
from __future__ import annotations

import copy
import math
import random
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from graft import bundle, strategies, training
from graft.errors import DataError, GraftError
from graft.progress import log
from graft.qa.cloze import cloze_questions
from graft.qa.data import QAData, QAExample, read_documents, read_qa
from graft.qa.metrics import squad_scores
from graft.qa.spans import Windows, best_spans, make_windows, no_answer_threshold
from graft.tasks.base import Task, precision_option

FROZEN_WARNING = ("a frozen encoder answers questions poorly (published: F1 16 frozen vs 88.5 fine-tuned for "
                  "BERT-base on SQuAD): use fine-tune or lora unless this is a baseline")
MIN_STEPS, MAX_EPOCHS = 240, 20  # the default epochs give small training sets enough optimizer steps
NEGATIVE_WINDOWS = 0.3  # share of answer-free windows of answerable questions kept for training (all of v2's)


class SpanObjective(training.Objective):
    """Cross-entropy of the answer's start and end tokens; validation EM/F1 on the validation questions."""

    monitor, mode = "val_f1", "max"

    def __init__(self, task: QuestionAnswerer, examples: list[QAExample]):
        self.task, self.examples = task, examples

    def loss(self, model, batch):
        out = model(**{k: v for k, v in batch.items() if k not in ("start_positions", "end_positions")})
        loss = (torch.nn.functional.cross_entropy(out.start_logits.float(), batch["start_positions"])
                + torch.nn.functional.cross_entropy(out.end_logits.float(), batch["end_positions"])) / 2
        return loss, len(batch["input_ids"])

    def validate(self, model, loader, acc) -> dict[str, float]:
        scores = self.task.score(self.examples, model=model)
        return {"val_f1": scores["f1"], "val_exact_match": scores["exact_match"]}

    def describe(self, row: dict) -> str:
        return f"val F1 {row['val_f1']:.2f}, exact match {row['val_exact_match']:.2f}"


class QuestionAnswerer(Task):
    """``QuestionAnswerer("minilm-l6").fit("train.json")``, then ``predict([(question, context)])``.

    ``max_length``/``stride``: tokens per window and tokens shared by neighbouring windows; ``max_answer_tokens``:
    the longest answer considered; ``cloze``: also train on up to N questions per training context made from its
    own sentences (``graft.qa.cloze``). Where validation has unanswerable questions (SQuAD v2) a no-answer
    threshold is chosen on it and saved.
    """

    name = "qa"
    modality = "text"
    default_backbone = "minilm-l6"
    strategy_choices = ("fine-tune", "lora", "feature-extraction", "auto")
    # measured on BBC-QA with MiniLM-L6 (see the benchmark): lr 1e-4 beat 5e-5 and 3e-5 at the same epochs
    defaults = {"epochs": 3, "lr": 1e-4, "head_lr": 1e-3, "batch_size": 16, "unfreeze": "all"}
    strategy_lr = {"lora": 5e-4, "feature-extraction": 1e-3}

    def __init__(self, backbone: str | None = None, strategy: str = "auto", *, weights="pretrained",
                 epochs: int | None = None, lr: float | None = None, head_lr: float | None = None,
                 batch_size: int | None = None, unfreeze: int | str | None = None, lora_r: int = 8,
                 max_length: int = 384, stride: int = 128, max_answer_tokens: int = 30,
                 cloze: int = 0, val_fraction: float = 0.1, limit: int | None = None, seed: int = 0,
                 patience: int | None = None,
                 grad_accum: int = 1, mixed_precision: str = "auto", on_bad_file: str = "error", checkpoint_dir: str | Path | None = None):
        self.check_strategy(strategy)
        self.check_options(epochs=epochs, lr=lr, head_lr=head_lr, batch_size=batch_size, val_fraction=val_fraction,
                           patience=patience, grad_accum=grad_accum)
        self.backbone_name, self.strategy, self.weights = backbone or self.default_backbone, strategy, weights
        self.epochs, self.lr, self.head_lr, self.batch_size = epochs, lr, head_lr, batch_size
        self.unfreeze, self.lora_r, self.max_length, self.stride = unfreeze, lora_r, max_length, stride
        self.max_answer_tokens, self.val_fraction, self.limit, self.seed = max_answer_tokens, val_fraction, limit, seed
        self.cloze, self.on_bad_file = cloze, on_bad_file
        self.patience, self.grad_accum, self.mixed_precision = patience, grad_accum, mixed_precision
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        if stride >= max_length // 2:
            raise GraftError(f"--stride {stride} must be under half of --max-length {max_length}")
        self.model = self.tokenizer = self.resolved = None
        self.null_threshold: float | None = None  # None: always answer (SQuAD v1)
        self._answering = None  # the copy of the model that answers (see answering_model)
        self.weights_sha256: str | None = None  # of the saved bundle this model was loaded from
        self.history: list[dict] = []
        self.run_report: dict = {}

    def epochs_for(self, windows: int) -> int:
        """``epochs``, or by default enough epochs for MIN_STEPS optimizer steps (at least the default 3, at
        most MAX_EPOCHS): a few hundred questions in 3 epochs give a span head some 60 steps, too few to learn
        (BBC-QA, 250 questions: F1 6.7). No early stopping by default (``patience=None``): validation F1 sits
        flat for the first ~100 steps while the span head finds its footing, and the best epoch is kept anyway."""
        if self.epochs is not None:
            return self.epochs
        steps = max(1, math.ceil(windows / (self.option("batch_size") * self.grad_accum)))
        epochs = min(MAX_EPOCHS, max(self.defaults["epochs"], math.ceil(MIN_STEPS / steps)))
        if epochs > self.defaults["epochs"]:
            log(f"epochs: {epochs} ({steps} optimizer steps per epoch; at least {MIN_STEPS} steps in all)")
        self.epochs_used = epochs
        return epochs

    def option(self, name: str):
        value = getattr(self, name)
        if value is not None:
            return value
        if name == "lr" and self.strategy_used in self.strategy_lr:
            return self.strategy_lr[self.strategy_used]
        return self.defaults[name]

    # ---- data -------------------------------------------------------------------------------------------
    def read(self, source) -> QAData:
        data = source if isinstance(source, QAData) else read_qa(source, on_bad=self.on_bad_file)
        r = data.report()
        log(f"{data.source}: {r['examples']} questions over {r['contexts']} contexts"
            + (f", {r['unanswerable']} unanswerable" if r["unanswerable"] else "")
            + (f", {r['skipped']} skipped ({data.skipped[0]}{' ...' if r['skipped'] > 1 else ''})"
               if r["skipped"] else ""))
        return data

    def split(self, data: QAData) -> tuple[list[QAExample], list[QAExample], dict]:
        """Validation by context, seeded: questions on one text never straddle the two sides."""
        contexts = sorted({e.context for e in data.examples})
        random.Random(self.seed).shuffle(contexts)
        n_val = max(1, round(self.val_fraction * len(contexts)))
        if len(contexts) - n_val < 1:
            raise DataError(f"{data.source}: {len(contexts)} context(s) is too few to split off validation: "
                            "pass --val")
        held = set(contexts[:n_val])
        train = [e for e in data.examples if e.context not in held]
        val = [e for e in data.examples if e.context in held]
        return train, val, {"kind": "random by context", "val_fraction": self.val_fraction, "seed": self.seed}

    def windows(self, examples: list[QAExample], with_targets: bool = False) -> Windows:
        windows = make_windows(self.tokenizer, examples, self.max_length, self.stride, with_targets)
        import inspect

        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        if "token_type_ids" not in inspect.signature(base.forward).parameters:  # DistilBERT has no segments
            windows.inputs.pop("token_type_ids", None)
        return windows

    def _training_rows(self, examples: list[QAExample]) -> list[dict]:
        """Every window that holds its answer, every window of an unanswerable question, and a seeded share
        of the other windows (they teach that a window without the answer scores it low)."""
        windows = self.windows(examples, with_targets=True)
        rng = random.Random(self.seed)
        rows = []
        for i in range(len(windows)):
            example = examples[windows.example[i]]
            positive = int(windows.starts[i]) > 0 or not example.answerable
            if positive or rng.random() < NEGATIVE_WINDOWS:
                rows.append(windows.row(i))
        return rows

    # ---- model ------------------------------------------------------------------------------------------
    def load_base(self) -> None:
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from graft.backbones import get_cfg
        from graft.backbones.weights import resolve, transformers_folder

        cfg = get_cfg(self.backbone_name)
        if cfg.family != "text":
            raise GraftError(f"'{self.backbone_name}' is not a text encoder: question answering needs one "
                             "(see `graft models --task qa`)")
        explicit = None if self.weights == "pretrained" else self.weights
        if explicit is None and Path(self.backbone_name).is_dir():  # a local model folder names its own weights
            explicit = self.backbone_name
        self.resolved = transformers_folder(cfg, resolve(cfg, explicit))
        location = str(self.resolved.location)
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "some weights are newly initialized": the span head is new, by design
        try:
            self.model = AutoModelForQuestionAnswering.from_pretrained(location, local_files_only=True)
        finally:
            hf_logging.set_verbosity(verbosity)
        self.tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
        self.licence = cfg.licence

    def head_is_pretrained(self) -> bool:
        """True for checkpoints fine-tuned on QA already (their config names a QA architecture)."""
        archs = getattr(self.model.config, "architectures", None) or []
        return any("QuestionAnswering" in a for a in archs)

    def prepare_strategy(self) -> tuple[list[dict], str]:
        """Freeze what stays pretrained; return the optimizer's parameter groups and what trains."""
        head = self.model.qa_outputs
        lr, head_lr = self.option("lr"), self.option("head_lr")
        if self.strategy_used == "lora":
            from peft import LoraConfig, get_peft_model

            config = LoraConfig(r=self.lora_r, lora_alpha=2 * self.lora_r, lora_dropout=0.0,
                                target_modules=_attention_modules(self.model), modules_to_save=["qa_outputs"])
            self.model = get_peft_model(self.model, config)
            params = [p for p in self.model.parameters() if p.requires_grad]
            return [{"params": params, "lr": lr}], f"LoRA r={self.lora_r} on {config.target_modules} + span head"
        strategies.freeze(self.model)
        for p in head.parameters():
            p.requires_grad_(True)
        if self.strategy_used == "feature-extraction":
            log(f"warning: {FROZEN_WARNING}")
            return [{"params": list(head.parameters()), "lr": lr}], "the span head only (encoder frozen)"
        from graft.backbones.text import _transformer_layers

        _, layers = _transformer_layers(self.model)
        n = self.option("unfreeze")
        chosen = list(layers) if n == "all" else list(layers)[max(len(layers) - int(n), 0):]
        body = [p for m in chosen for p in m.parameters()]
        if n == "all":  # the embeddings too
            body = [p for name, p in self.model.named_parameters() if not name.startswith("qa_outputs")]
        for p in body:
            p.requires_grad_(True)
        return ([{"params": body, "lr": lr}, {"params": list(head.parameters()), "lr": head_lr}],
                f"{'every layer' if n == 'all' else f'the last {len(chosen)} of {len(layers)} layers'} + span head")

    def suggest_strategy(self) -> tuple[str, str]:
        return "fine-tune", ("span prediction needs the encoder's token representations adapted (a frozen encoder "
                             "scores far lower); fine-tuning a small encoder fits a CPU")

    # ---- fitting ----------------------------------------------------------------------------------------
    def fit(self, data, val=None) -> QuestionAnswerer:
        start = time.perf_counter()
        torch.manual_seed(self.seed)
        data = self.read(data)
        if val is not None:
            train, val_examples, split = data.examples, self.read(val).examples, {"kind": "given"}
        else:
            train, val_examples, split = self.split(data)
        if self.limit:
            train = random.Random(self.seed).sample(train, min(self.limit, len(train)))
        self.choose_strategy(self.suggest_strategy)
        self.load_base()
        rows = self._training_rows(train)
        if self.cloze:
            synthetic = cloze_questions(sorted({e.context for e in train}), self.cloze, self.seed)
            rows += self._training_rows(synthetic)
            log(f"{len(synthetic)} cloze questions made from the training contexts' own sentences (--cloze "
                f"{self.cloze}: up to {self.cloze} per context)")
        groups, what = self.prepare_strategy()
        trainable = sum(p.numel() for g in groups for p in g["params"])
        log(f"{self.strategy_used}: training {what} ({trainable:,} parameters); {len(train)} training questions "
            f"({len(rows)} windows of {self.max_length} tokens) / {len(val_examples)} validation questions")
        epochs = self.epochs_for(len(rows))
        settings = training.TrainSettings(epochs=epochs, lr=self.option("lr"), weight_decay=0.01,
                                          schedule="linear", warmup_ratio=0.1, patience=self.patience,
                                          grad_accum=self.grad_accum,
                                          mixed_precision=training.resolve_precision(self.mixed_precision),
                                          max_grad_norm=1.0)
        loader = DataLoader(rows, batch_size=self.option("batch_size"), shuffle=True, collate_fn=_trimmed_batch)
        validation = DataLoader([0])  # SpanObjective scores the validation questions themselves
        self.history = training.fit(self.model, groups, loader, validation, settings, phase=self.strategy_used,
                                    seed=self.seed, checkpoint_dir=self.checkpoint_dir,
                                    objective=SpanObjective(self, val_examples))
        if self.strategy_used == "lora":
            self.model = self.model.merge_and_unload()  # a plain encoder again: saved and loaded as one
        strategies.freeze(self.model)
        self.model.eval()
        self._answering, self.weights_sha256 = None, None
        if any(not e.answerable for e in val_examples):
            results = self._spans(val_examples)
            self.null_threshold = no_answer_threshold(results, [e.answerable for e in val_examples])
        val_report = self.score(val_examples)
        self.run_report = {"data_check": data.report(), "split": split, "train_questions": len(train),
                           "train_windows": len(rows), "val_questions": len(val_examples), "val_metrics": val_report,
                           "null_threshold": self.null_threshold, "fit_seconds": round(time.perf_counter() - start, 2)}
        log(f"validation: F1 {val_report['f1']:.2f}, exact match {val_report['exact_match']:.2f} "
            f"({self.run_report['fit_seconds']:.0f}s)")
        return self

    # ---- answering --------------------------------------------------------------------------------------
    def _spans(self, examples: list[QAExample], top_k: int = 1, model=None, batch_size: int = 32):
        """Start/end scores for every window (batched by length, so a batch carries little padding), then the
        best spans of each example (``graft.qa.spans.best_spans``)."""
        windows = self.windows(examples)
        if not len(windows):
            return [([], -1e9) for _ in examples]
        model = (model or self.answering_model({k: v[:2] for k, v in windows.inputs.items()})).eval()
        device = getattr(model, "device", None)
        device = device if isinstance(device, torch.device) else next(model.parameters()).device
        width = windows.inputs["input_ids"].shape[1]
        starts, ends = torch.full((len(windows), width), -1e9), torch.full((len(windows), width), -1e9)
        order = windows.inputs["attention_mask"].sum(1).argsort(descending=True)
        with torch.inference_mode():
            for i in range(0, len(order), batch_size):
                rows = order[i:i + batch_size]
                batch = trim_padding({k: v[rows].to(device) for k, v in windows.inputs.items()})
                out = model(**batch)
                used = batch["input_ids"].shape[1]
                starts[rows, :used], ends[rows, :used] = out.start_logits.float().cpu(), out.end_logits.float().cpu()
        return best_spans(examples, windows, starts, ends, top_k, self.max_answer_tokens)

    def answering_model(self, example: dict[str, torch.Tensor] | None = None):
        """The network that answers, built once: on a CPU with graft's fast path on, OpenVINO (bf16 where the CPU
        computes it natively; ``graft.engines`` has the measurements: 2.3x PyTorch fp32 on BBC-QA, 284 of 286
        answers the same), else a bf16 copy in PyTorch (1.6x), else the model itself. ``example``: a batch to
        trace the network with when it is converted."""
        from graft import engines
        from graft.runtime import autocast_dtype, settings

        if self._answering is None:
            cpu = next(self.model.parameters()).device.type == "cpu"
            bf16 = cpu and autocast_dtype("cpu") == torch.bfloat16
            self._answering = self.model
            if cpu and settings().fast and engines.openvino_available() and example is not None:
                try:
                    self._answering = engines.OpenVINONetwork(
                        self.model, example, ["start_logits", "end_logits"], "bf16" if bf16 else "f32",
                        torch.get_num_threads(), key=self.weights_sha256)
                except Exception as exc:  # noqa: BLE001 - any converter failure: PyTorch answers instead
                    log(f"OpenVINO could not take this model ({type(exc).__name__}: {str(exc)[:120]}); "
                        "answering with PyTorch")
            if self._answering is self.model and bf16:
                self._answering = copy.deepcopy(self.model).to(torch.bfloat16).eval()
        return self._answering

    def answers(self, examples: list[QAExample], top_k: int = 1, model=None) -> list[list[dict]]:
        """Per question its best answers: text, score (softmax over the candidates), character span; an empty
        list where the model judges the question unanswerable."""
        out = []
        for spans, null in self._spans(examples, top_k, model):
            if not spans or (self.null_threshold is not None and null - spans[0].score > self.null_threshold):
                out.append([])
                continue
            weights = torch.tensor([s.score for s in spans]).softmax(0).tolist()
            out.append([{"answer": s.text, "score": round(w, 4), "start": s.start, "end": s.end}
                        for s, w in zip(spans, weights)])
        return out

    def score(self, examples: list[QAExample], model=None) -> dict:
        found = self.answers(examples, model=model)
        predictions = {e.id: (a[0]["answer"] if a else "") for e, a in zip(examples, found)}
        return squad_scores(predictions, examples)

    def evaluate(self, data) -> dict:
        """Exact match and F1 (SQuAD's normalisation; by characters for Chinese), HasAns/NoAns for v2."""
        self.require_model()
        examples = self.read(data).examples
        return {**self.score(examples), "implementation": "torchmetrics.text.SQuAD (character F1 for Chinese)"}

    def predict(self, inputs, top_k: int = 1) -> list[dict]:
        """``inputs``: (question, context) pairs, where a context is a text, a .txt file or a folder of them
        (over several documents the best answers across them come first), or ``{"question", "context"}``
        dicts whose context is always a text. All windows of all inputs run in shared batches."""
        self.require_model()
        asked, examples, owners = [], [], []
        for item in inputs:
            if isinstance(item, dict):
                question, documents = item["question"], [("context", item["context"])]
            else:
                question, context = item
                documents = read_documents(context)
            asked.append(question)
            for name, text in documents:
                owners.append((len(asked) - 1, name))
                examples.append(QAExample(f"q{len(examples)}", question, text))
        ranked: list[list] = [[] for _ in asked]
        for (owner, name), (spans, null) in zip(owners, self._spans(examples, top_k)):
            if spans and (self.null_threshold is None or null - spans[0].score <= self.null_threshold):
                ranked[owner] += [(span, name) for span in spans]  # raw span scores compare across documents
        return [{"question": q, "answers": _top(found, top_k)} for q, found in zip(asked, ranked)]

    # ---- saving and loading -----------------------------------------------------------------------------
    def config(self) -> dict:
        import graft

        return {"graft_version": graft.__version__,
                "backbone": {"name": self.backbone_name,
                             "weights_source": self.resolved.source if self.resolved else None,
                             "weights_sha256": self.resolved.sha256 if self.resolved else None,
                             "licence": getattr(self, "licence", None)},
                "encoder_config": self.model.config.to_dict() if self.model is not None else None,
                "strategy": {"requested": self.strategy, "used": self.strategy_used, "reason": self.strategy_reason,
                             "lora_r": self.lora_r if self.strategy_used == "lora" else None},
                "max_length": self.max_length, "stride": self.stride, "max_answer_tokens": self.max_answer_tokens,
                "cloze": self.cloze,
                "null_threshold": self.null_threshold,
                "training": {**{name: self.option(name) for name in ("lr", "head_lr", "batch_size")},
                             "epochs": getattr(self, "epochs_used", None) or self.option("epochs")},
                "seed": self.seed}

    def save_extras(self, directory: Path) -> None:
        self.tokenizer.save_pretrained(directory / "tokenizer")

    @classmethod
    def from_bundle(cls, directory: Path, config: dict) -> QuestionAnswerer:
        from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoTokenizer

        spec = config["backbone"]
        self = cls(spec["name"], config["strategy"]["requested"], weights=None,
                   max_length=config.get("max_length", 384), stride=config.get("stride", 128),
                   max_answer_tokens=config.get("max_answer_tokens", 30), seed=config.get("seed", 0))
        self.strategy_used, self.strategy_reason = config["strategy"]["used"], config["strategy"]["reason"]
        self.null_threshold, self.licence = config.get("null_threshold"), spec.get("licence")
        encoder = dict(config["encoder_config"])
        self.model = AutoModelForQuestionAnswering.from_config(AutoConfig.for_model(**encoder))
        bundle.load_into(self.model, directory, config)
        self.weights_sha256 = config.get("weights_sha256")  # names the converted network graft.engines caches
        strategies.freeze(self.model)
        self.model.eval()
        self.tokenizer = AutoTokenizer.from_pretrained(directory / "tokenizer", local_files_only=True)
        return self

    @classmethod
    def from_zoo(cls, name: str, **options) -> QuestionAnswerer | None:
        """A checkpoint fine-tuned on QA already (online: e.g. ``distilbert-base-cased-distilled-squad``), as it is."""
        hub_id = name.count("/") == 1 and not name.startswith(("/", ".", "~")) and not Path(name).exists()
        if not hub_id and not Path(name).is_dir():
            return None
        self = cls(name, "fine-tune")
        self.load_base()
        if not self.head_is_pretrained():
            raise GraftError(f"'{name}' has no question-answering head: fine-tune it first (graft fit --task qa)")
        self.strategy_used, self.strategy_reason = "pretrained", "a QA checkpoint, used as published"
        self.model.eval()
        return self

    # ---- the command line -------------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--lora-r", type=int, default=8, help="LoRA rank (default 8)")
        group.add_argument("--max-length", type=int, default=384, help="tokens per window (default 384)")
        group.add_argument("--stride", type=int, default=128, help="tokens shared by neighbouring windows of a long "
                           "context (default 128)")
        group.add_argument("--limit", type=int, help="use only this many training questions (seeded choice)")
        group.add_argument("--cloze", type=int, default=0, help="also train on up to N questions per training "
                           "context made from its own sentences (cloze questions; default 0)")
        group.add_argument("--fp32", action="store_true", help="train in fp32 even where the CPU/GPU computes bf16 "
                           "natively (default: bf16 autocast there)")

    @classmethod
    def options_from_args(cls, args) -> dict:
        return dict(weights=args.weights or "pretrained", epochs=args.epochs, lr=args.lr, head_lr=args.head_lr,
                    batch_size=args.batch_size, unfreeze=args.unfreeze, lora_r=args.lora_r,
                    max_length=args.max_length, stride=args.stride, cloze=args.cloze, val_fraction=args.val_fraction,
                    limit=args.limit, seed=args.seed, patience=args.patience, grad_accum=args.grad_accum,
                    on_bad_file=args.on_bad_file,
                    mixed_precision=precision_option(args))

    @classmethod
    def prediction_options(cls, args) -> dict:
        return {"top_k": args.top_k}

    def prediction_inputs(self, args) -> list[tuple[str, str]]:
        questions = list(args.question or [])
        if not questions:
            raise GraftError('nothing to answer: give --question "..." and --context TEXT_OR_FILE_OR_FOLDER')
        if not args.context:
            raise GraftError("give --context: a text, a .txt file or a folder of .txt documents to answer from")
        return [(q, args.context) for q in questions]

    def request_inputs(self, body: dict) -> list[dict[str, str]]:
        """``{"question": "...", "context": "..."}`` or ``{"questions": [...], "context": "..."}``."""
        questions = body.pop("questions", None)
        question, context = body.pop("question", None), body.pop("context", None)
        questions = [question] if question is not None else questions
        if not isinstance(context, str) or not context.strip():
            raise GraftError('give "context": the text to answer from')
        if not isinstance(questions, list) or not questions or not all(isinstance(q, str) and q.strip()
                                                                        for q in questions):
            raise GraftError('give "question" (a non-empty string) or "questions" (a list of them)')
        return [{"question": q, "context": context} for q in questions]

    @staticmethod
    def summarise_config(config: dict) -> dict:
        return {"labels": None, "backbone": config.get("backbone")}

    def summary(self) -> str:
        val = self.run_report["val_metrics"]
        return f"({self.strategy_used}): validation F1 {val['f1']:.2f}, exact match {val['exact_match']:.2f}"

    @staticmethod
    def format_report(report: dict) -> str:
        lines = [f"exact match {report['exact_match']:.2f}  F1 {report['f1']:.2f}  ({report['n']} questions)"]
        for part in ("HasAns", "NoAns"):
            if part in report:
                lines.append(f"{part}: exact match {report[part]['exact_match']:.2f}  F1 {report[part]['f1']:.2f}  "
                             f"({report[part]['n']})")
        return "\n".join(lines)

    @staticmethod
    def format_predictions(results: list[dict]) -> str:
        lines = []
        for r in results:
            lines.append(f"Q: {r['question']}")
            lines += [f"  {a['answer']!r}\t{a['score']:.3f}\tchars {a['start']}-{a['end']}"
                      + (f"\t{a['document']}" if a.get("document") not in (None, "context") else "")
                      for a in r["answers"]] or ["  (no answer in the context)"]
        return "\n".join(lines)


def _top(found: list, top_k: int) -> list[dict]:
    """The best ``top_k`` (span, document) pairs, scored by a softmax over them."""
    found = sorted(found, key=lambda item: -item[0].score)[:top_k]
    weights = torch.tensor([s.score for s, _ in found]).softmax(0).tolist() if found else []
    return [{"answer": s.text, "score": round(w, 4), "start": s.start, "end": s.end, "document": name}
            for (s, name), w in zip(found, weights)]


def _trimmed_batch(rows: list[dict]) -> dict[str, torch.Tensor]:
    """Stacked windows without the padding columns every row of the batch has (short contexts fit one window
    far under ``max_length``: attention and the feed-forward layers need not run on the padding)."""
    return trim_padding({k: torch.stack([r[k] for r in rows]) for k in rows[0]})


def trim_padding(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch without trailing padding columns (right-padded batches only; others come back as they are)."""
    mask = batch["attention_mask"]
    if not bool(mask[:, 0].all()):  # padded on the left
        return batch
    used = int(mask.sum(1).max())
    return {k: (v[:, :used] if v.dim() == 2 and v.shape[1] == mask.shape[1] else v) for k, v in batch.items()}


def _attention_modules(model) -> list[str]:
    """The attention projections LoRA adapts, by the names each architecture uses."""
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    for pair in (["query", "value"], ["q_lin", "v_lin"], ["q_proj", "v_proj"]):
        if set(pair) <= names:
            return pair
    raise GraftError(f"no attention projections found for LoRA in {type(model).__name__}")
