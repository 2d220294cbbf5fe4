"""Classification on top of a pretrained backbone, shared by images and text.

A task subclass says how to read its data and turn inputs into tensors; this class does the rest:
strategy (feature extraction / fine-tuning / LoRA / auto), cached features, the training phases,
metrics, and the saved model.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from accelerate.utils import set_seed
from sklearn.utils.class_weight import compute_class_weight
from torch.utils.data import DataLoader, Dataset, TensorDataset

import graft
from graft import bundle, metrics, strategies, training
from graft.backbones import Backbone
from graft.data.split import stratified_split
from graft.errors import DataError, GraftError
from graft.features import FeatureCache, extract_features
from graft.heads import BackboneWithHead, HeadOnFeatures, classification_head, cv_folds, fit_probe, fit_probe_cv
from graft.progress import log
from graft.runtime import autocast_dtype, configure, inference_context
from graft.tasks.base import Task
from graft.tasks.classification_output import format_predictions, ranked_predictions


class LabelledData:
    """Inputs (paths or texts) with class names, plus what reading them reported."""

    def __init__(self, inputs: list, labels: list[str], report: dict | None = None, source: str = ""):
        self.inputs, self.labels, self.report, self.source = inputs, labels, report or {}, source

    def subset(self, indices: Sequence[int]) -> LabelledData:
        return LabelledData([self.inputs[i] for i in indices], [self.labels[i] for i in indices], self.report,
                            self.source)


class _Items(Dataset):
    """(inputs dict, label id) pairs built lazily by the task's ``encode_item``."""

    def __init__(self, task: Classifier, inputs: list, label_ids: list[int], train: bool):
        self.task, self.inputs, self.label_ids, self.train = task, inputs, label_ids, train

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int):
        return self.task.encode_item(self.inputs[index], self.train), self.label_ids[index]


MIN_VALIDATION, MIN_VALIDATION_PER_CLASS = 50, 10  # below them a fit warns that validation is too small to trust
# feature extraction on at most this many labelled examples fits the probe head by cross-validation over all of them
# (heads.fit_probe_cv); above it a held-out fifth is enough to choose by, and the SGD head is as good
PROBE_CV_MAX_EXAMPLES = 1000


class Classifier(Task):
    """Base for ``ImageClassifier`` and ``TextClassifier``: see their docstrings for the options."""

    task: str = ""  # the same as ``name``
    family: str = ""  # the same as ``modality``
    pooled_features = True
    exportable = True
    defaults: dict = {}
    _cv_folds = 0  # set by fit: >0, the probe head is chosen by this many folds of cross-validation (PROBE_CV_...)
    _out_of_fold: list[int] | None = None  # that probe's out-of-fold predictions, the validation metrics' source

    def __init__(self, backbone: str | None = None, strategy: str = "auto", *, weights: str | Path | None = "pretrained",
                 head: Sequence[int] = (), dropout: float = 0.0, pooling: str | None = None,
                 epochs: int | None = None, head_epochs: int | None = None, lr: float | None = None,
                 head_lr: float = 1e-3, batch_size: int = 32, unfreeze: int | str | None = None,
                 lr_decay: float | None = None, train_bn: bool = False, class_weights: str | None = None,
                 val_fraction: float = 0.2, seed: int = 0, patience: int | None = 5, grad_accum: int = 1,
                 mixed_precision: str = "no", cache: bool = True, label_smoothing: float | None = None,
                 schedule: str | None = None, warmup_ratio: float | None = None,
                 checkpoint_dir: str | Path | None = None, num_workers: int | None = None,
                 probe: bool | None = None):
        self.check_strategy(strategy)
        self.check_options(epochs=epochs, head_epochs=head_epochs, lr=lr, head_lr=head_lr, batch_size=batch_size,
                           lr_decay=lr_decay, val_fraction=val_fraction, patience=patience, grad_accum=grad_accum)
        if class_weights not in (None, "balanced"):
            raise GraftError("class_weights must be None or 'balanced'")
        self.backbone_name = backbone or self.default_backbone
        self.strategy, self.weights, self.head_hidden, self.dropout = strategy, weights, tuple(head), dropout
        self.pooling, self.epochs, self.head_epochs, self.lr, self.head_lr = pooling, epochs, head_epochs, lr, head_lr
        self.batch_size, self.unfreeze, self.lr_decay, self.train_bn = batch_size, unfreeze, lr_decay, train_bn
        self.class_weights, self.val_fraction, self.seed, self.patience = class_weights, val_fraction, seed, patience
        self.grad_accum, self.mixed_precision, self.cache = grad_accum, mixed_precision, cache
        self.label_smoothing, self.schedule, self.warmup_ratio = label_smoothing, schedule, warmup_ratio
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.num_workers = num_workers
        self.probe = probe  # the linear head as a tuned logistic-regression probe; None: on small data (uses_probe)
        self.classes: list[str] = []
        self.model: BackboneWithHead | None = None
        self.history: list[dict] = []
        self.run_report: dict = {}
        self.strategy_used = self.strategy_reason = None
        self.data_source: str | None = None  # the training data, recorded for checking exports on real inputs

    # ---- what a task subclass provides -------------------------------------------------------------
    def read_labelled(self, source) -> LabelledData:  # pragma: no cover - abstract
        raise NotImplementedError

    def read_unlabelled(self, sources) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def build_backbone(self, weights) -> Backbone:  # pragma: no cover - abstract
        raise NotImplementedError

    def inspect_inputs(self, inputs: list) -> dict:
        """Facts about the training inputs for the run report (e.g. truncated texts)."""
        return {}

    def encode_item(self, item, train: bool) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def collate(self, batch):
        return torch.utils.data.default_collate(batch)

    def item_key(self, item) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def preprocessing(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- fitting -----------------------------------------------------------------------------------
    def option(self, name: str):
        value = getattr(self, name)
        return self.defaults.get((name, self.strategy_used), self.defaults.get(name)) if value is None else value

    def fit(self, data, val=None) -> Classifier:
        """Train on ``data`` (validated on ``val``, or a seeded stratified split of ``data``)."""
        configure()
        set_seed(self.seed)
        start = time.perf_counter()
        train, val_data, split = self._train_val(data, val)
        self.classes = sorted(set(train.labels))
        unknown = sorted(set(val_data.labels) - set(self.classes))
        if unknown:
            raise DataError(f"validation labels never seen in training: {', '.join(unknown)}")
        self._choose_strategy(train.labels)
        labelled = list(train.labels) + list(val_data.labels)
        eligible = (split["kind"] == "stratified" and self.strategy_used == "feature-extraction"
                    and not self.head_hidden and self.probe is not False and self.cross_validates_head()
                    and len(labelled) <= PROBE_CV_MAX_EXAMPLES)
        self._cv_folds = cv_folds(self._ids(labelled)) if eligible else 0
        self._out_of_fold: list[int] | None = None
        backbone = self.build_backbone(self.weights)
        head = classification_head(backbone.feature_dim, len(self.classes), self.head_hidden, self.dropout)
        self.model = BackboneWithHead(backbone, head)
        train.report.update(self.inspect_inputs(train.inputs))
        self._summarise(backbone, head, train, val_data)
        y_train, y_val = self._ids(train.labels), self._ids(val_data.labels)
        strategies.freeze(backbone)
        self.history = self._fit_head(train, val_data, y_train, y_val)
        if self.strategy_used in ("fine-tune", "lora"):
            self.history += self._fit_backbone(train, val_data, y_train, y_val)
        train_size, val_size = len(train.inputs), len(val_data.inputs)
        if self._out_of_fold is not None:  # every example was validated by a head that did not train on it
            val_report = metrics.classification_report(y_train + y_val, self._out_of_fold, self.classes)
            split = {"kind": "cross-validation", "folds": self._cv_folds, "seed": self.seed}
            train_size = val_size = train_size + val_size
        else:
            val_report = self.evaluate_data(val_data)
        self.data_source = str(train.source) if train.source else None
        self.run_report = {**train.report, "split": split, "train_size": train_size,
                           "val_size": val_size, "val_metrics": val_report,
                           "fit_seconds": round(time.perf_counter() - start, 2)}
        log(f"validation: accuracy {val_report['accuracy']:.2%}, macro-F1 {val_report['macro_f1']:.4f} "
            f"({self.run_report['fit_seconds']:.0f}s)")
        baseline = self.baseline(train, val_data, y_train, y_val)
        if baseline:
            self.run_report["baseline"] = baseline
            better = baseline["val_accuracy"] > val_report["accuracy"]
            log(f"baseline, {baseline['model']}: validation accuracy {baseline['val_accuracy']:.2%}"
                + (" -- higher than the pretrained model's: on this data the classical model may be the better "
                   "choice" if better else f" (the pretrained model: {val_report['accuracy']:.2%})"))
        return self

    def baseline(self, train: LabelledData, val: LabelledData, y_train: list[int], y_val: list[int]) -> dict | None:
        """A classical model on the same split, reported beside the fit (text: TF-IDF + a linear SVM)."""
        return None

    def _summarise(self, backbone, head, train: LabelledData, val: LabelledData) -> None:
        """What is about to train, on what: one block of lines at the start of a fit."""
        from collections import Counter

        total = sum(p.numel() for p in backbone.parameters())
        new = sum(p.numel() for p in head.parameters())
        log(f"model: {self.backbone_name} ({getattr(backbone, 'weights_source', None) or 'random init'}), "
            f"{total:,} pretrained parameters + a new head of {new:,}; {self.strategy_used}: "
            + {"feature-extraction": "the backbone stays frozen",
               "fine-tune": f"then the last {self.option('unfreeze')} layer group(s) train",
               "lora": "then low-rank adapters train"}.get(self.strategy_used, ""))
        if self._cv_folds:
            log(f"data: {len(train.inputs) + len(val.inputs)} labelled examples, {len(self.classes)} classes; the "
                f"head is chosen by {self._cv_folds}-fold cross-validation over all of them and then fitted on all "
                "of them")
            return
        fewest = min(Counter(val.labels).values()) if val.labels else 0
        log(f"data: {len(train.inputs)} training / {len(val.inputs)} validation examples, {len(self.classes)} "
            f"classes (validation: at least {fewest} per class)")
        if len(val.inputs) < MIN_VALIDATION or fewest < MIN_VALIDATION_PER_CLASS:
            log(f"warning: a validation split of {len(val.inputs)} ({fewest} in its smallest class) moves in steps "
                f"of {1 / max(len(val.inputs), 1):.1%}: too small to choose epochs or compare models reliably; "
                "pass --val with more examples if you have them")

    def _train_val(self, data, val) -> tuple[LabelledData, LabelledData, dict]:
        train = data if isinstance(data, LabelledData) else self.read_labelled(data)
        if val is not None:
            val_data = val if isinstance(val, LabelledData) else self.read_labelled(val)
            return train, val_data, {"kind": "given", "val_source": str(val_data.source)}
        tr, va = stratified_split(train.labels, self.val_fraction, self.seed)
        split = {"kind": "stratified", "val_fraction": self.val_fraction, "seed": self.seed}
        return train.subset(tr), train.subset(va), split

    def _choose_strategy(self, labels: list[str]) -> None:
        self.choose_strategy(lambda: strategies.choose_auto(labels, self.family))
        if self.strategy_used == "lora" and self.family != "text":
            raise GraftError("the 'lora' strategy is available for text backbones only")

    def _ids(self, labels: list[str]) -> list[int]:
        index = {c: i for i, c in enumerate(self.classes)}
        return [index[label] for label in labels]

    def _settings(self, phase: str, y_train: list[int]) -> training.TrainSettings:
        head_phase = phase == "head"
        epochs = self.option("head_epochs") if head_phase and self.strategy_used != "feature-extraction" \
            else self.option("epochs")
        settings = training.TrainSettings(
            epochs=epochs, lr=self.head_lr if head_phase else self.option("lr"),
            weight_decay=1e-4 if head_phase else 1e-2, schedule="cosine" if head_phase else self.option("schedule"),
            warmup_ratio=0.0 if head_phase else self.option("warmup_ratio"),
            patience=None if self.patience is None else self.patience * (3 if head_phase else 1),
            grad_accum=1 if head_phase else self.grad_accum,
            mixed_precision="no" if head_phase else self.mixed_precision,
            label_smoothing=self.option("label_smoothing") or 0.0)
        if self.class_weights == "balanced":
            weights = compute_class_weight("balanced", classes=np.arange(len(self.classes)), y=np.array(y_train))
            settings.class_weights = torch.tensor(weights, dtype=torch.float32)
        return settings

    def _fit_head(self, train, val, y_train, y_val) -> list[dict]:
        """The new head on frozen, cached features (the whole of feature extraction; phase 1 of fine-tuning)."""
        inputs = list(train.inputs) + list(val.inputs)
        if self._cv_folds:
            self.prepare_head_choices()
        x = self.features(inputs)  # one extraction pass for both
        if self._cv_folds:
            return self._cv_probe_head(self.head_choices(x, inputs), y_train + y_val)
        return self._train_head(x[:len(train.inputs)], x[len(train.inputs):], y_train, y_val)

    def uses_probe(self) -> bool:
        """Whether the linear head is fitted as an exact logistic regression with its strength tuned on validation
        (``heads.fit_probe``) rather than by SGD: ``probe=True``/``False``, else where the fit cross-validates it
        (feature extraction on at most ``PROBE_CV_MAX_EXAMPLES`` labelled examples split by graft). Not the
        default above that: on elpv and Rotten Tomatoes' full training sets it scored within 0.3 point of the
        SGD-trained head (benchmark section probe)."""
        if self.head_hidden:
            return False
        return bool(self._cv_folds) if self.probe is None else bool(self.probe)

    def cross_validates_head(self) -> bool:
        """Whether this task's feature extraction can fit its head by cross-validation (``_cv_probe_head``)."""
        return True

    def prepare_head_choices(self) -> None:
        """Before the features of a cross-validated head are extracted: set the backbone up to produce features
        from which ``head_choices`` derives its alternatives (one extraction pass for all of them)."""

    def head_choices(self, x: torch.Tensor, inputs: list) -> dict[str, torch.Tensor]:
        """The feature sets of ``inputs`` the cross-validated head chooses between, by name (``choose_head``'s
        argument); ``x``: their features as ``prepare_head_choices`` set the backbone up to compute."""
        return {"": x}

    def choose_head(self, name: str) -> None:
        """Set the backbone to produce the chosen feature set (see ``head_choices``)."""

    def _train_head(self, x_train, x_val, y_train, y_val, phase: str = "head") -> list[dict]:
        if self.uses_probe() and len(set(y_train)) > 1:
            return self._probe_head(x_train, x_val, y_train, y_val, phase)
        train_loader = DataLoader(TensorDataset(x_train, torch.tensor(y_train)), batch_size=self.batch_size,
                                  shuffle=True, collate_fn=_as_feature_batch)
        val_loader = DataLoader(TensorDataset(x_val, torch.tensor(y_val)), batch_size=256,
                                collate_fn=_as_feature_batch)
        return training.fit(HeadOnFeatures(self.model.head), list(self.model.head.parameters()), train_loader,
                            val_loader, self._settings("head", y_train), phase=phase, seed=self.seed,
                            checkpoint_dir=self.checkpoint_dir)

    def _probe_head(self, x_train, x_val, y_train, y_val, phase: str) -> list[dict]:
        start = time.perf_counter()
        probe = fit_probe(self.model.head, x_train, y_train, x_val, y_val, self.class_weights)
        chosen = probe["tried"][f"{probe['C']:g}"]
        with torch.inference_mode():
            train_loss = float(torch.nn.functional.cross_entropy(self.model.head(x_train.float()),
                                                                 torch.tensor(y_train)))
        log(f"{phase}: logistic-regression probe on standardised features, C={probe['C']:g} chosen on validation "
            f"(accuracy {chosen['val_accuracy']:.2%}, loss {chosen['val_loss']:.4f})")
        return [{"phase": phase, "epoch": 1, "train_loss": train_loss, "val_loss": chosen["val_loss"],
                 "val_accuracy": chosen["val_accuracy"], "probe_C": probe["C"],
                 "seconds": time.perf_counter() - start}]

    def _cv_probe_head(self, choices: dict[str, torch.Tensor], y: list[int]) -> list[dict]:
        start, folds = time.perf_counter(), self._cv_folds
        tried = {}
        for name, features in choices.items():
            head = classification_head(features.shape[1], len(self.classes), (), self.dropout)
            probe = fit_probe_cv(head, features, y, self.class_weights, folds=folds, seed=self.seed)
            score = probe["tried"][f"{probe['C']:g}"]
            tried[name] = ((-score["val_loss"], score["val_accuracy"]), probe, head, features)
        name = max(tried, key=lambda n: tried[n][0])  # ties: the first (the simpler feature set)
        _, probe, head, features = tried[name]
        self.choose_head(name)
        self.model.head, self._out_of_fold = head, probe["out_of_fold"]
        chosen = probe["tried"][f"{probe['C']:g}"]
        with torch.inference_mode():
            train_loss = float(torch.nn.functional.cross_entropy(head(features.float()), torch.tensor(y)))
        among = (f"; the {name} features chosen, cross-validated accuracy "
                 + ", ".join(f"{n}: {tried[n][0][1]:.2%}" for n in tried) if len(tried) > 1 else "")
        log(f"head: logistic-regression probe on standardised features, C={probe['C']:g} chosen by {folds}-fold "
            f"cross-validation over all {len(y)} labelled examples (accuracy {chosen['val_accuracy']:.2%}, "
            f"loss {chosen['val_loss']:.4f}{among}), then fitted on all of them")
        return [{"phase": "head", "epoch": 1, "train_loss": train_loss, "val_loss": chosen["val_loss"],
                 "val_accuracy": chosen["val_accuracy"], "probe_C": probe["C"], "probe_folds": folds,
                 **({"probe_choice": name} if name else {}), "seconds": time.perf_counter() - start}]

    def _fit_backbone(self, train, val, y_train, y_val) -> list[dict]:
        """Phase 2: unfreeze (or add adapters), then train end to end with discriminative learning rates."""
        backbone = self.model.backbone
        if self.strategy_used == "lora":
            unfrozen = self.add_adapters(backbone)
        else:
            unfrozen = strategies.unfreeze_last(backbone, self.option("unfreeze"))
        groups = strategies.discriminative_param_groups(backbone, self.model.head, self.option("lr"), unfrozen,
                                                        self.option("lr_decay"), weight_decay=1e-2)
        log(f"fine-tune: training {len(unfrozen)} layer group(s) "
            f"({', '.join(g.name for g in unfrozen[-3:])}{' ...' if len(unfrozen) > 3 else ''}) and the head")
        train_loader = self._loader(train.inputs, y_train, train=True, shuffle=True)
        val_loader = self._loader(val.inputs, y_val, train=False)
        history = training.fit(self.model, groups, train_loader, val_loader, self._settings("fine-tune", y_train),
                               phase=self.strategy_used,
                               set_train_mode=lambda m: strategies.set_batchnorm_mode(m.backbone, self.train_bn),
                               seed=self.seed, checkpoint_dir=self.checkpoint_dir, keep_incoming=True)
        if self.strategy_used == "lora":
            self.merge_adapters(backbone)
        strategies.freeze(backbone)
        return history

    def add_adapters(self, backbone):  # pragma: no cover - text only
        raise GraftError(f"{self.task} has no adapters")

    def merge_adapters(self, backbone):  # pragma: no cover - text only
        pass

    def _loader(self, inputs: list, label_ids: list[int], train: bool, shuffle: bool = False,
                batch_size: int | None = None) -> DataLoader:
        # workers are not persistent: each epoch starts them afresh, seeded from that epoch's seed
        return DataLoader(_Items(self, inputs, label_ids, train), batch_size=batch_size or self.batch_size,
                          shuffle=shuffle, collate_fn=self.collate, num_workers=self._workers(),
                          pin_memory=training.device().type == "cuda",
                          drop_last=train and len(inputs) > self.batch_size)

    def _workers(self) -> int:
        return training.loader_workers(self.num_workers)

    # ---- features ----------------------------------------------------------------------------------
    def cache_identity(self) -> dict | None:
        backbone = self.model.backbone
        if not self.cache or backbone.weights_sha256 is None:
            return None  # random weights: nothing worth keeping
        identity = {"backbone": backbone.spec(), "weights_sha256": backbone.weights_sha256,
                    "preprocessing": self.preprocessing(), "graft_features_version": 2}
        dtype = autocast_dtype(training.device())
        if dtype is not None:  # bf16 features are not fp32 features: never mix them in one cache
            identity["autocast"] = str(dtype)
        return identity

    def features(self, inputs: list) -> torch.Tensor:
        """Frozen-backbone features, from the on-disk cache where possible."""
        encode = self.model.backbone.to(training.device()).eval().frozen_encoder(len(inputs))
        return self._extract(inputs, lambda batch: encode(**batch), self.cache_identity())

    def _extract(self, inputs: list, encode, identity: dict | None) -> torch.Tensor:
        """Features on this process's device, returned on the CPU in input order."""
        cache = FeatureCache(identity) if identity else None
        keys = [self.item_key(x) for x in inputs]
        return extract_features(encode, _Items(self, inputs, [0] * len(inputs), False),
                                keys, cache, batch_size=max(self.batch_size, 64), collate_fn=self.collate,
                                num_workers=self._workers(),
                                device=training.device(), desc="features", order=self.extraction_order(inputs))

    def extraction_order(self, inputs: list) -> list[int] | None:
        """The order in which to compute features (None: as given); results come back in input order."""
        return None

    # ---- using a trained model ---------------------------------------------------------------------
    def logits(self, inputs: list) -> torch.Tensor:
        self.require_model()
        if self.runtime is not None:
            loader = self._loader(inputs, [0] * len(inputs), train=False, batch_size=max(self.batch_size, 64))
            out = [self.runtime(**batch) for batch, _ in loader]
            return torch.cat(out) if out else torch.empty(0, len(self.classes))
        device = training.device()
        self.model.to(device).eval()
        if self.strategy_used == "feature-extraction" and self.cache_identity():
            features = self.features(inputs)
            with torch.inference_mode():
                return self.model.head(features.to(device)).float().cpu()
        loader = self._loader(inputs, [0] * len(inputs), train=False, batch_size=max(self.batch_size, 64))
        out = []
        with inference_context(device):
            for batch, _ in loader:
                out.append(self.model(**{k: v.to(device) for k, v in batch.items()}).float().cpu())
        return torch.cat(out) if out else torch.empty(0, len(self.classes))

    def evaluate_data(self, data: LabelledData) -> dict:
        unknown = sorted(set(data.labels) - set(self.classes))
        if unknown:
            raise DataError(f"{data.source}: labels the model was never trained on: {', '.join(unknown)} "
                            f"(known: {', '.join(self.classes)})")
        predicted = self.logits(data.inputs).argmax(1).tolist()
        return metrics.classification_report(self._ids(data.labels), predicted, self.classes)

    def evaluate(self, data) -> dict:
        """Accuracy, balanced accuracy, macro-F1, per-class precision/recall and the confusion matrix."""
        self.require_model()
        return self.evaluate_data(data if isinstance(data, LabelledData) else self.read_labelled(data))

    def predict(self, inputs, top_k: int = 1) -> list[dict]:
        """For each input: its top class, score, and the ``top_k`` (class, probability) pairs."""
        self.require_model()
        items = self.read_unlabelled(inputs)
        return ranked_predictions(items, self.logits(items).softmax(1).numpy(), self.classes, top_k)

    # ---- saving and loading ------------------------------------------------------------------------
    def config(self) -> dict:
        backbone = self.model.backbone
        return {
            "task": self.task, "graft_version": graft.__version__, "classes": self.classes,
            "backbone": {**backbone.spec(), "weights_source": backbone.weights_source,
                         "weights_sha256": backbone.weights_sha256},
            "preprocessing": self.preprocessing(),
            "head": {"hidden": list(self.head_hidden), "dropout": self.dropout,
                     "probe_C": next((r["probe_C"] for r in self.history if "probe_C" in r), None)},
            "strategy": {"requested": self.strategy, "used": self.strategy_used, "reason": self.strategy_reason,
                         "unfreeze": self.option("unfreeze"), "train_bn": self.train_bn},
            "training": self.training_options(), "seed": self.seed, "split": self.run_report.get("split"),
            "data_source": self.data_source,
        }

    def training_options(self) -> dict:
        """The recipe as it ran (defaults resolved), recorded in a saved model's config for reproducing it."""
        resolved = {name: self.option(name) for name in ("epochs", "head_epochs", "lr", "lr_decay", "schedule",
                                                          "warmup_ratio", "label_smoothing")}
        return {**resolved, "head_lr": self.head_lr, "batch_size": self.batch_size, "patience": self.patience,
                "class_weights": self.class_weights, "grad_accum": self.grad_accum,
                "mixed_precision": self.mixed_precision}

    def save_reports(self, directory: Path) -> None:
        """metrics.json + history.csv + curves.png + confusion.png beside the weights."""
        bundle.write_json(directory / "metrics.json", self.run_report)
        if self.history:
            bundle.write_history(directory / "history.csv", self.history)
            metrics.plot_curves(self.history, directory / "curves.png", val_n=self.run_report.get("val_size"))
        if "val_metrics" in self.run_report:
            metrics.plot_confusion(self.run_report["val_metrics"], directory / "confusion.png")

    # ---- the command line --------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--head", type=int, nargs="*", default=[], metavar="UNITS",
                           help="hidden layer sizes of an MLP head (default: linear); --head 64 is Dense(64, relu)")
        group.add_argument("--dropout", type=float, default=0.0, help="dropout before each head layer")
        group.add_argument("--probe", action=argparse.BooleanOptionalAction, default=None,
                           help="fit the linear head as a logistic regression on standardised features, its strength "
                           "tuned on validation, instead of by SGD (default: for feature extraction on at most "
                           f"{PROBE_CV_MAX_EXAMPLES} labelled examples, cross-validated over all of them)")
        group.add_argument("--pooling", help="image: avg|avgmax|flatten (default avg; with the cross-validated head, "
                           "avg or avgmax by cross-validation); text: mean|cls|last")
        group.add_argument("--label-smoothing", type=float, help="cross-entropy label smoothing (default: 0.1 "
                           "when fine-tuning images, else 0)")
        group.add_argument("--class-weights", choices=["balanced"], help="weigh classes by inverse frequency")
        group.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")

    @classmethod
    def options_from_args(cls, args) -> dict:
        return dict(
            weights=args.weights or "pretrained", head=args.head, dropout=args.dropout, pooling=args.pooling,
            epochs=args.epochs, head_epochs=args.head_epochs, lr=args.lr,
            head_lr=1e-3 if args.head_lr is None else args.head_lr,
            batch_size=args.batch_size or 32, unfreeze=args.unfreeze, lr_decay=args.lr_decay,
            train_bn=args.train_bn, class_weights=args.class_weights, val_fraction=args.val_fraction,
            seed=args.seed, patience=args.patience, grad_accum=args.grad_accum,
            mixed_precision=args.mixed_precision, cache=not args.no_cache, label_smoothing=args.label_smoothing,
            num_workers=args.num_workers, probe=args.probe)

    def summary(self) -> str:
        val = self.run_report["val_metrics"]
        return (f"({self.strategy_used}, {len(self.classes)} classes): validation accuracy {val['accuracy']:.2%}, "
                f"macro-F1 {val['macro_f1']:.4f}")

    @classmethod
    def prediction_options(cls, args) -> dict:
        return {"top_k": args.top_k}

    @staticmethod
    def format_report(report: dict) -> str:
        return metrics.format_report(report)

    @staticmethod
    def format_predictions(results: list[dict]) -> str:
        return format_predictions(results)

    @classmethod
    def from_bundle(cls, directory: str | Path, config: dict) -> Classifier:
        directory = Path(directory)
        spec = config["backbone"]
        self = cls(spec["name"], config["strategy"]["requested"], weights=None, head=config["head"]["hidden"],
                   dropout=config["head"]["dropout"], pooling=spec["pooling"], seed=config.get("seed", 0),
                   **cls.options_from_config(config))
        self.classes = config["classes"]
        self.strategy_used, self.strategy_reason = config["strategy"]["used"], config["strategy"]["reason"]
        backbone = self.rebuild_backbone(directory, config)
        backbone.weights_source, backbone.weights_sha256 = spec["weights_source"], spec["weights_sha256"]
        head = classification_head(backbone.feature_dim, len(self.classes), self.head_hidden, self.dropout)
        self.model = BackboneWithHead(backbone, head)
        bundle.load_into(self.model, directory, config)
        strategies.freeze(backbone)
        self.data_source = config.get("data_source")
        return self

    def prepare_for_serving(self) -> None:
        self.cache = False  # a feature file per request would grow the cache without bound

    # ---- export (graft.deploy) ---------------------------------------------------------------------
    def export_items(self, data, n: int) -> list:
        """``n`` real inputs (a seeded choice) to check an export on: from ``data``, else the training data."""
        import random

        source = data or self.data_source
        if not source or not Path(source).exists():
            raise GraftError("give --data: real inputs to check the export on (the training data recorded in "
                             f"the model, {self.data_source or 'none'}, is not here)")
        items = self.read_unlabelled(source)
        if not items:
            raise GraftError(f"{source}: no inputs to check the export on")
        return random.Random(self.seed).sample(items, min(n, len(items)))

    def export_inputs(self, items: list) -> dict[str, torch.Tensor]:
        """One batch of model inputs for ``items``, as ``model`` (and the exported network) take them."""
        batch, _ = self.collate([(self.encode_item(x, False), 0) for x in items])
        return batch

    def export_module(self) -> torch.nn.Module:
        return self.model.float().cpu()

    @classmethod
    def from_export(cls, path: Path, config: dict, network) -> Classifier:
        """The classifier around an exported network: its classes and preprocessing, no PyTorch weights."""
        self = cls(config["backbone"]["name"], config["strategy"]["requested"], weights=None,
                   head=config["head"]["hidden"], dropout=config["head"]["dropout"],
                   pooling=config["backbone"]["pooling"], seed=config.get("seed", 0),
                   **cls.options_from_config(config))
        self.classes = config["classes"]
        self.strategy_used, self.strategy_reason = config["strategy"]["used"], config["strategy"]["reason"]
        self.runtime = network
        self.restore_preprocessing(path, config)
        return self

    def restore_preprocessing(self, path: Path, config: dict) -> None:
        """What turns inputs into tensors without the PyTorch model (an export's sidecar files)."""

    @classmethod
    def options_from_config(cls, config: dict) -> dict:
        return {}

    def rebuild_backbone(self, directory: Path, config: dict) -> Backbone:
        return self.build_backbone(None)


def _as_feature_batch(batch):
    features, labels = torch.utils.data.default_collate(batch)
    return {"features": features}, labels
