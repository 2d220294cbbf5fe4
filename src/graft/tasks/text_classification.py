"""Text classification: a CSV/TSV/JSONL of texts and labels (or class folders of .txt) -> a classifier."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from graft import training
from graft.backbones import LayerGroup, create_backbone, get_cfg
from graft.backbones.text import build_text_backbone
from graft.data.text import read_text_dataset
from graft.errors import GraftError
from graft.features import FeatureCache
from graft.heads import classification_head
from graft.progress import log
from graft.tasks.classification import Classifier, LabelledData

TOKENIZER_DIR = "tokenizer"
POOL_LAYER_CANDIDATES = (1, 2, 4)
BACKBONE_CONFIG = "backbone_config.json"


class TextClassifier(Classifier):
    """Transfer learning for text.

    ``TextClassifier(backbone="minilm-l6", strategy="fine-tune").fit("reviews.csv")``

    Options beyond the shared ones: ``text_col`` / ``label_col`` (default: detected from common names),
    ``max_length`` (tokens; longer texts are truncated and counted), ``pooling`` ("mean", "cls", "last"),
    ``pool_layers`` (pool the average of the last N hidden layers, or "auto": the head phase tries 1, 2 and 4
    on cached per-layer features and keeps the best on validation; default "auto" for feature extraction,
    as the upper-middle layers carry more signal for some tasks, e.g. sentiment, and less for others; else 1),
    ``lora_r`` / ``lora_alpha`` / ``lora_targets`` for the "lora" strategy; ``tfidf_baseline``: also fit TF-IDF
    + a linear SVM on the same split and report its validation scores beside the model's (``metrics.json``).
    """

    name = task = "text-classification"
    modality = family = "text"
    default_backbone = "minilm-l6"
    defaults = {"epochs": 60, ("epochs", "fine-tune"): 3, ("epochs", "lora"): 3, "head_epochs": 10,
                "lr": 5e-5, ("lr", "lora"): 5e-4, "unfreeze": "all", "lr_decay": 0.9, "schedule": "linear",
                "warmup_ratio": 0.1, "label_smoothing": 0.0,
                "pool_layers": 1, ("pool_layers", "feature-extraction"): "auto"}

    def __init__(self, backbone: str | None = None, strategy: str = "auto", *, text_col: str | None = None,
                 label_col: str | None = None, max_length: int | None = None,
                 pool_layers: int | str | None = None, lora_r: int = 8,
                 lora_alpha: int = 16, lora_targets: list[str] | None = None, config_overrides: dict | None = None,
                 tokenizer: str | Path | None = None, tfidf_baseline: bool = True, **options):
        super().__init__(backbone, strategy, **options)
        self.tfidf_baseline = tfidf_baseline
        self.text_col, self.label_col, self.max_length = text_col, label_col, max_length
        self.pool_layers = pool_layers
        self.lora = {"r": lora_r, "alpha": lora_alpha, "targets": lora_targets}
        self.config_overrides, self.tokenizer_source = config_overrides, tokenizer

    # ---- data --------------------------------------------------------------------------------------
    def read_labelled(self, source) -> LabelledData:
        data = read_text_dataset(source, self.text_col, self.label_col)
        if data.report.get("empty_texts"):
            log(f"{source}: skipped {len(data.report['empty_texts'])} empty text(s) (lines listed in metrics.json)")
        return LabelledData(data.texts, data.labels, dict(data.report), str(source))

    def read_unlabelled(self, sources) -> list[str]:
        if isinstance(sources, (str, Path)) and Path(sources).is_file():
            return read_text_dataset(sources, self.text_col, self.label_col, require_labels=False).texts
        if isinstance(sources, str):
            return [sources]
        return [str(s) for s in sources]

    def prediction_inputs(self, args) -> list[str]:
        """Literal texts from --text, and the texts of every file given (a missing file is an error)."""
        texts = list(args.text or [])
        for name in args.inputs:
            if not Path(name).is_file():
                raise GraftError(f"{name}: no such file (pass literal texts with --text)")
            texts += self.read_unlabelled(name)
        if not texts:
            raise GraftError("nothing to predict: give text files, or --text \"...\"")
        return texts

    def inspect_inputs(self, texts: list[str]) -> dict:
        truncated = self.model.backbone.count_truncated(texts)
        if truncated:
            log(f"{truncated} text(s) are longer than {self.model.backbone.max_length} tokens and are truncated")
        return {"truncated_texts": truncated, "max_length": self.model.backbone.max_length}

    def encode_item(self, item: str, train: bool) -> str:
        return item

    def collate(self, batch):
        texts, labels = zip(*batch)
        return self.tokenize(list(texts)), torch.tensor(labels)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        if self.model is not None:
            return self.model.backbone.tokenize(texts)
        enc = self.export_tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                    return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    # ---- export (graft.deploy) ---------------------------------------------------------------------
    def export_dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}

    def restore_preprocessing(self, path: Path, config: dict) -> None:
        from transformers import AutoTokenizer

        from graft.deploy.runtime import tokenizer_dir

        folder = tokenizer_dir(path)
        if not folder.is_dir():
            raise GraftError(f"{path}: its tokenizer folder {folder.name} is missing (re-run `graft export`)")
        self.export_tokenizer = AutoTokenizer.from_pretrained(folder)
        self.max_length = config["preprocessing"]["max_length"]

    def extraction_order(self, texts: list[str]) -> list[int]:
        return sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths batch with little padding

    def item_key(self, item: str) -> str:
        return hashlib.sha256(item.encode("utf-8")).hexdigest()

    def preprocessing(self) -> dict:
        prep = get_cfg(self.backbone_name).preprocessing
        backbone = self.model.backbone if self.model else None
        return {"max_length": backbone.max_length if backbone else (self.max_length or prep.max_length),
                "pooling": backbone.pooling if backbone else (self.pooling or prep.pooling)}

    # ---- backbone ----------------------------------------------------------------------------------
    def build_backbone(self, weights):
        explicit = isinstance(self.pool_layers, int)  # "auto" is settled by the head phase
        options = dict(pooling=self.pooling, max_length=self.max_length,
                       pool_layers=self.pool_layers if explicit else 1)
        if self.config_overrides is not None or weights is None:
            options.update(config_overrides=self.config_overrides, tokenizer=self.tokenizer_source)
        elif self.tokenizer_source:
            options.update(tokenizer=self.tokenizer_source)
        return create_backbone(self.backbone_name, weights=weights, **options)

    def baseline(self, train, val, y_train, y_val) -> dict | None:
        if not self.tfidf_baseline:
            return None
        from graft.baselines import tfidf_baseline

        return tfidf_baseline(list(train.inputs), y_train, list(val.inputs), y_val, self.classes, self.seed)

    # ---- which hidden layers to pool ---------------------------------------------------------------
    def cross_validates_head(self) -> bool:
        return self.option("pool_layers") != "auto"  # choosing the layers to pool holds out validation (below)

    def _fit_head(self, train, val, y_train, y_val) -> list[dict]:
        if self.option("pool_layers") != "auto":
            return super()._fit_head(train, val, y_train, y_val)
        backbone = self.model.backbone
        candidates = sorted({min(n, backbone.hidden_states) for n in POOL_LAYER_CANDIDATES})
        texts = list(train.inputs) + list(val.inputs)
        layers = self.layer_features(texts, candidates[-1])  # one extraction pass for both
        x_train, x_val = layers[:len(train.inputs)], layers[len(train.inputs):]
        tried = {}
        for n in candidates:
            torch.manual_seed(self.seed)  # every candidate starts from the same head
            self.model.head = classification_head(backbone.feature_dim, len(self.classes), self.head_hidden,
                                                  self.dropout)
            history = self._train_head(x_train[:, -n:].mean(1), x_val[:, -n:].mean(1), y_train, y_val,
                                       phase=f"head-layers{n}")
            # as the training loop ranks epochs: validation accuracy, then the lower validation loss
            tried[n] = (max(training.Classification().score(r) for r in history), history, self.model.head)
        best = choose_pool_layers({n: tried[n][0] for n in candidates})
        backbone.pool_layers, self.model.head = best, tried[best][2]
        scores = ", ".join(f"{n}: {tried[n][0][0]:.2%}" for n in candidates)
        log(f"pool_layers: {best} (validation accuracy by layers pooled: {scores})")
        train.report["pool_layers"] = {"chosen": best,
                                       "val_accuracy": {str(n): tried[n][0][0] for n in candidates}}
        self._remember(texts, layers[:, -best:].mean(1))  # later passes over these texts read the cache
        return [{**row, "phase": "head"} for row in tried[best][1]]

    def _remember(self, texts: list[str], features: torch.Tensor) -> None:
        identity = self.cache_identity()
        if identity:
            cache = FeatureCache(identity)
            for text, row in zip(texts, features):
                cache.put(self.item_key(text), row.clone())

    def layer_features(self, texts: list[str], last: int) -> torch.Tensor:
        """(n, last, dim): each of the last ``last`` hidden layers pooled, cached like ``features``."""
        backbone = self.model.backbone.to(training.device()).eval()
        identity = self.cache_identity()
        if identity:
            identity = {**identity, "backbone": {**identity["backbone"], "pool_layers": f"each of the last {last}"}}
        return self._extract(texts, lambda batch: backbone.forward_layers(**batch, last=last), identity)

    def add_adapters(self, backbone) -> list[LayerGroup]:
        """LoRA adapters (peft) on the frozen encoder; merged back after training."""
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=self.lora["r"], lora_alpha=self.lora["alpha"], lora_dropout=0.1,
                            target_modules=self.lora["targets"])
        try:
            backbone.model = get_peft_model(backbone.model, config)
        except ValueError as exc:
            raise GraftError(f"LoRA on '{self.backbone_name}': {exc}; pass --lora-targets") from None
        trainable = tuple(f"model.{n}" for n, p in backbone.model.named_parameters() if p.requires_grad)
        log(f"lora: {sum(p.numel() for p in backbone.parameters() if p.requires_grad):,} adapter parameters")
        return [LayerGroup("lora", trainable)]

    def merge_adapters(self, backbone) -> None:
        backbone.model = backbone.model.merge_and_unload()

    # ---- the command line --------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, group) -> None:
        from graft.cli import positive_int_or_auto

        super().add_arguments(group)
        group.add_argument("--text-col", help="the text column (default: detected from common names)")
        group.add_argument("--label-col", help="the label column (default: detected from common names)")
        group.add_argument("--max-length", type=int, help="tokens per text; longer ones are truncated and counted")
        group.add_argument("--pool-layers", type=positive_int_or_auto, help="pool the average of the last N "
                           "hidden layers, or auto: try 1, 2, 4 and keep the best on validation (default: auto for "
                           "feature extraction, else 1)")
        group.add_argument("--lora-r", type=int, default=8, help="LoRA rank")
        group.add_argument("--lora-alpha", type=int, default=16, help="LoRA scaling")
        group.add_argument("--lora-targets", nargs="*", help="module names for LoRA (default: attention projections)")
        group.add_argument("--no-baseline", action="store_true", help="skip the TF-IDF + linear SVM baseline fitted "
                           "beside the model on the same split")

    @classmethod
    def options_from_args(cls, args) -> dict:
        return {**super().options_from_args(args), "text_col": args.text_col, "label_col": args.label_col,
                "max_length": args.max_length, "pool_layers": args.pool_layers, "lora_r": args.lora_r,
                "lora_alpha": args.lora_alpha, "lora_targets": args.lora_targets,
                "tfidf_baseline": not args.no_baseline}

    # ---- bundle ------------------------------------------------------------------------------------
    def config(self) -> dict:
        config = super().config()
        config["strategy"]["lora"] = self.lora if self.strategy_used == "lora" else None
        config["data"] = {"text_col": self.text_col, "label_col": self.label_col}
        return config

    def save_extras(self, directory: Path) -> None:
        backbone = self.model.backbone
        backbone.tokenizer.save_pretrained(directory / TOKENIZER_DIR)
        (directory / BACKBONE_CONFIG).write_text(json.dumps(backbone.model.config.to_dict(), indent=1))

    @classmethod
    def options_from_config(cls, config: dict) -> dict:
        return {"max_length": config["backbone"]["max_length"],
                "pool_layers": config["backbone"].get("pool_layers", 1), **config.get("data", {})}

    def rebuild_backbone(self, directory: Path, config: dict):
        model_config = json.loads((directory / BACKBONE_CONFIG).read_text())
        return build_text_backbone(get_cfg(self.backbone_name), None, pooling=self.pooling,
                                   max_length=self.max_length, pool_layers=self.pool_layers,
                                   config_overrides=model_config,
                                   tokenizer=directory / TOKENIZER_DIR)


def choose_pool_layers(scores: dict[int, tuple[float, float]]) -> int:
    """The layer count with the best (accuracy, -loss) score; on a full tie, fewer layers."""
    return max(scores, key=lambda n: (scores[n], -n))
