"""What every task offers the rest of graft (the CLI, ``graft.load``, the bundle).

A task turns user files into examples, builds a model from a pretrained backbone plus new modules,
trains it through ``graft.training`` with its own ``Objective`` (loss and monitored metric), and turns
model outputs into JSON-ready predictions. The CLI and ``graft.load`` see only this interface.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import ClassVar

from graft import bundle, strategies
from graft.errors import GraftError
from graft.progress import log


OPTION_RULES = {  # option -> (what it must be, the check)
    "epochs": ("a whole number >= 1", lambda v: v >= 1 and v == int(v)),
    "head_epochs": ("a whole number >= 0", lambda v: v >= 0 and v == int(v)),
    "lr": ("a number > 0", lambda v: v > 0), "head_lr": ("a number > 0", lambda v: v > 0),
    "batch_size": ("a whole number >= 1", lambda v: v >= 1 and v == int(v)),
    "grad_accum": ("a whole number >= 1", lambda v: v >= 1 and v == int(v)),
    "patience": ("a whole number >= 0 (0: no early stopping)", lambda v: v >= 0 and v == int(v)),
    "val_fraction": ("a number between 0 and 1", lambda v: 0 < v < 1),
    "lr_decay": ("a number in (0, 1]", lambda v: 0 < v <= 1),
    "image_size": ("a whole number >= 32", lambda v: v >= 32 and v == int(v)),
}


class Task:
    """Base of every application (``ImageClassifier``, ``TextClassifier``, ``ObjectDetector``, ...)."""

    name: ClassVar[str] = ""  # the registry key, recorded as ``task`` in a bundle's config.json
    modality: ClassVar[str] = ""  # "image" | "text": which readers and backbone family it uses
    pooled_features: ClassVar[bool] = False  # True: its trainable part can read cached pooled features
    default_backbone: ClassVar[str] = ""
    strategy_choices: ClassVar[tuple[str, ...]] = strategies.STRATEGIES  # what `--strategy` offers

    model = None
    runtime = None  # an exported network (graft.deploy) that answers in place of ``model``
    strategy = "auto"
    strategy_used: str | None = None
    strategy_reason: str | None = None

    # ---- what a task provides ----------------------------------------------------------------------
    def fit(self, data, val=None) -> Task:  # pragma: no cover - abstract
        raise NotImplementedError

    def evaluate(self, data) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, inputs, **options) -> list[dict]:  # pragma: no cover - abstract
        raise NotImplementedError

    def config(self) -> dict:  # pragma: no cover - abstract
        """JSON-able description of the trained model: enough for ``from_bundle`` to rebuild it."""
        raise NotImplementedError

    @classmethod
    def from_bundle(cls, directory: Path, config: dict) -> Task:  # pragma: no cover - abstract
        raise NotImplementedError

    def save_reports(self, directory: Path) -> None:
        """Reports beside the weights: ``metrics.json`` (the run report) and ``history.csv`` (a row per epoch);
        tasks that draw plots add them."""
        bundle.write_json(directory / "metrics.json", getattr(self, "run_report", None) or {})
        if getattr(self, "history", None):
            bundle.write_history(directory / "history.csv", self.history)

    def save_extras(self, directory: Path) -> None:
        """Files besides the weights that the model needs (tokenizer, ...)."""

    # ---- the command line --------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Options of `graft fit` that only this task reads (an argument group of their own)."""

    @classmethod
    def options_from_args(cls, args: argparse.Namespace) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def prediction_options(cls, args: argparse.Namespace) -> dict:
        """Keyword options of `predict` that this task reads from `graft predict`'s arguments."""
        return {}

    def prediction_inputs(self, args: argparse.Namespace) -> list:
        """What `graft predict` hands to ``predict``: image files and folders (text tasks read texts)."""
        if args.text:
            raise GraftError(f"{args.model} is an {self.modality} model: give image files or folders, not --text")
        if not args.inputs:
            raise GraftError("nothing to predict: give image files or folders")
        return args.inputs

    @classmethod
    def from_zoo(cls, name: str, **options) -> Task | None:
        """A zoo model this task can use as it is, without training (None: there is none by that name);
        ``options`` are :meth:`zoo_options`'s."""
        return None

    @classmethod
    def zoo_options(cls, args) -> dict:
        """What `graft evaluate/predict --task T` must know, from the command line, to use a pretrained model
        as it is (a translation's language pair)."""
        return {}

    @staticmethod
    def summarise_config(config: dict) -> dict:
        """The labels and the pretrained model named in a saved configuration (`graft serve`'s /info); tasks
        whose configuration names them otherwise override this."""
        return {"labels": config.get("classes"), "backbone": config.get("backbone")}

    def request_inputs(self, body: dict) -> list[dict[str, str]] | None:
        """`graft serve`: this task's inputs from a JSON request body (fields it reads are popped; values are
        texts, never paths), or None where the server's ``{"text"|"texts"|"prompt"}`` convention applies."""
        return None

    def prepare_for_serving(self) -> None:
        """Settings for answering requests (`graft serve`): nothing kept per request, such as on-disk caches."""

    def summary(self) -> str:
        """What `graft fit` prints after the saved directory."""
        return f"({self.strategy_used})"

    @staticmethod
    def format_report(report: dict) -> str:
        import json

        return json.dumps(report, indent=2)

    @staticmethod
    def format_predictions(results: list[dict]) -> str:
        import json

        return json.dumps(results, indent=2)

    # ---- export (graft.deploy): tasks that can be exported set ``exportable`` and provide these ---------
    exportable: ClassVar[bool] = False
    export_outputs: ClassVar[str] = "logits"  # how graft.deploy.parity compares outputs: "logits" | "detections"
    export_output_names: ClassVar[tuple[str, ...]] = ("output",)
    export_batch_size: ClassVar[int] = 16  # inputs per call of the exported network (1: inputs differ in size)
    export_formats: ClassVar[tuple[str, ...]] = ("onnx", "pt2")
    # why torch's dynamo ONNX exporter cannot take the network (None: it can; the TorchScript one is used)
    export_not_dynamo: ClassVar[str | None] = None

    def export_items(self, data, n: int) -> list:  # pragma: no cover - abstract
        """``n`` real inputs (a seeded choice) to check an export on: from ``data``, else the training data."""
        raise NotImplementedError

    def export_inputs(self, items: list) -> dict:  # pragma: no cover - abstract
        """One batch of network inputs (named tensors) for ``items``, as the exported network takes them."""
        raise NotImplementedError

    def export_module(self):  # pragma: no cover - abstract
        """The ``torch.nn.Module`` to export: it takes ``export_inputs``'s tensors as keyword arguments."""
        raise NotImplementedError

    def export_dynamic_axes(self) -> dict[str, dict[int, str]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def export_quantization(self) -> str:
        """onnxruntime's int8 method that suits the network: "static" (calibrated) or "dynamic"."""
        return "dynamic"

    def export_parity_options(self) -> dict:
        """Keyword options of the output comparison (``graft.deploy.parity``), such as a score threshold."""
        return {}

    @classmethod
    def from_export(cls, path: Path, config: dict, network) -> Task:  # pragma: no cover - abstract
        """The task around an exported network (``runtime``): its labels and preprocessing, no PyTorch weights."""
        raise NotImplementedError

    # ---- shared pieces -----------------------------------------------------------------------------
    def choose_strategy(self, suggest) -> None:
        """Settle ``auto`` with the task's own policy (``suggest()`` -> (strategy, reason)) and say why."""
        if self.strategy == "auto":
            self.strategy_used, self.strategy_reason = suggest()
            log(f"auto strategy -> {self.strategy_used}: {self.strategy_reason}")
        else:
            self.strategy_used, self.strategy_reason = self.strategy, "chosen by the user"

    def check_options(self, **values) -> None:
        """Refuse a bad training option up front, naming it (``None``: the task's default)."""
        for name, value in values.items():
            if value is None or name not in OPTION_RULES:
                continue
            rule, ok = OPTION_RULES[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or not ok(value):
                raise GraftError(f"{name} must be {rule}, not {value!r}")

    def check_strategy(self, strategy: str) -> None:
        allowed = self.strategy_choices
        if strategy not in allowed:
            raise GraftError(f"unknown strategy '{strategy}' for {self.name}; choose one of {', '.join(allowed)}")

    def require_model(self) -> None:
        if self.model is None and self.runtime is None:
            raise GraftError(f"this {type(self).__name__} has not been fitted or loaded yet")

    def save(self, directory: str | Path) -> Path:
        """A bundle: model.safetensors + config.json (task, its configuration, format version) + reports."""
        self.require_model()
        directory = Path(directory)
        bundle.save_weights(directory, self.model.state_dict(), {"task": self.name, **self.config()})
        self.save_extras(directory)
        self.save_reports(directory)
        return directory


def precision_option(args: argparse.Namespace) -> str:
    """``--fp32`` forces fp32; the shared ``--mixed-precision`` default ("no") means "auto" for tasks that train
    transformers in bf16 where the hardware computes it natively."""
    if getattr(args, "fp32", False):
        return "no"
    return "auto" if args.mixed_precision == "no" else args.mixed_precision
