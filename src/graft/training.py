"""The training loop, on Hugging Face accelerate: one code path for a CPU, a GPU, or many processes
(`accelerate launch` / torchrun). The loop knows nothing of tasks: an ``Objective`` gives the loss and the
validation metrics, with the monitored one and its direction; the best epoch is kept in host memory."""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator, PartialState
from accelerate.state import AcceleratorState
from accelerate.utils import parse_flag_from_env, set_seed
from torch import nn
from torch.utils.data import DataLoader
from transformers import get_scheduler

from graft import checkpoint
from graft.progress import log, progress


@dataclass
class TrainSettings:
    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # cosine | linear | onecycle | constant
    warmup_ratio: float = 0.0
    patience: int | None = 5  # epochs without improvement before stopping; None: never stop early
    grad_accum: int = 1
    mixed_precision: str = "no"  # no | bf16 | fp16 (accelerate)
    label_smoothing: float = 0.0
    class_weights: torch.Tensor | None = None
    max_grad_norm: float | None = None  # clip the gradients' global norm (None: no clipping)


def resolve_precision(requested: str) -> str:
    """``auto``: bf16 autocast where the device computes bf16 natively (CUDA, CPUs with AVX512-BF16/AMX), fp32
    elsewhere; any other value as given. The weights themselves stay fp32 either way."""
    if requested != "auto":
        return requested
    from graft.runtime import autocast_dtype

    return "bf16" if autocast_dtype(device().type) == torch.bfloat16 else "no"


def _cpu_only() -> bool:
    # no GPU, or `accelerate launch --cpu`: torchrun / `accelerate launch` then train multi-process over gloo
    return not torch.cuda.is_available() or parse_flag_from_env("ACCELERATE_USE_CPU")


def accelerator(settings: TrainSettings | None = None) -> Accelerator:
    settings = settings or TrainSettings()
    # each phase may ask for its own precision (the head phase runs in fp32): accelerate keeps one per process
    AcceleratorState._reset_state()
    return Accelerator(gradient_accumulation_steps=settings.grad_accum, mixed_precision=settings.mixed_precision,
                       cpu=_cpu_only())


def device() -> torch.device:
    """Where this process computes: its own GPU (one per process under torchrun), else the CPU."""
    return PartialState(cpu=_cpu_only()).device


def is_main_process() -> bool:
    """True in the process that logs and saves (the only one outside `accelerate launch` / torchrun)."""
    return PartialState(cpu=_cpu_only()).is_main_process


def loader_workers(requested: int | None = None) -> int:
    """Data-loading processes: none on a CPU (they would take cores from the model), several beside a GPU,
    sharing the cores with the other processes on this machine."""
    if requested is not None:
        return requested
    if device().type != "cuda":
        return 0
    from graft.runtime import available_cores

    return min(8, max(available_cores() - 1, 0))


def _scheduler(name: str, optimizer, steps: int, warmup_ratio: float):
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=max(steps, 1))
    warmup = int(warmup_ratio * steps)
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=max(steps, 1))


class Objective:
    """What the loop asks of a task: the loss of a batch and the validation metrics.

    ``monitor`` names the validation metric that picks the best epoch and drives early stopping, and
    ``mode`` says which way is better. Ties go to the lower validation (or training) loss.
    """

    monitor: str = "val_loss"
    mode: str = "min"

    def loss(self, model: nn.Module, batch) -> tuple[torch.Tensor, int]:  # pragma: no cover - abstract
        """(mean loss of the batch, number of examples in it)."""
        raise NotImplementedError

    def validate(self, model: nn.Module, loader: DataLoader, acc: Accelerator) -> dict[str, float]:
        raise NotImplementedError  # pragma: no cover - abstract

    def score(self, row: dict) -> tuple[float, float]:
        """Higher is better: the monitored metric (its sign set by ``mode``), then lower loss."""
        value = row.get(self.monitor, 0.0 if self.mode == "max" else math.inf)
        return (value if self.mode == "max" else -value), -row.get("val_loss", row["train_loss"])

    def describe(self, row: dict) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in row.items() if k.startswith("val_"))


class Classification(Objective):
    """Cross-entropy on ``(inputs, labels)`` batches; validation accuracy is monitored."""

    monitor, mode = "val_accuracy", "max"

    def __init__(self, settings: TrainSettings | None = None):
        settings = settings or TrainSettings()
        self.class_weights, self.label_smoothing = settings.class_weights, settings.label_smoothing
        self._loss_fn: nn.Module | None = None

    def loss(self, model: nn.Module, batch) -> tuple[torch.Tensor, int]:
        inputs, labels = batch
        if self._loss_fn is None:
            weight = self.class_weights.to(labels.device) if self.class_weights is not None else None
            self._loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=self.label_smoothing)
        return self._loss_fn(model(**inputs).float(), labels), len(labels)

    def validate(self, model: nn.Module, loader: DataLoader, acc: Accelerator) -> dict[str, float]:
        accuracy, loss = _validate(model, loader, acc, nn.CrossEntropyLoss())
        return {"val_loss": loss, "val_accuracy": accuracy}

    def describe(self, row: dict) -> str:
        return f"val loss {row['val_loss']:.4f}, val accuracy {row['val_accuracy']:.2%}"


@torch.no_grad()
def predict_logits(model: nn.Module, loader: DataLoader, acc: Accelerator) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) over the whole loader, gathered from every process."""
    model.eval()
    all_logits, all_labels = [], []
    for inputs, labels in loader:
        logits = model(**inputs)
        logits, labels = acc.gather_for_metrics((logits.float(), labels))
        all_logits.append(logits.cpu())
        all_labels.append(labels.cpu())
    return torch.cat(all_logits), torch.cat(all_labels)


def _validate(model: nn.Module, loader: DataLoader, acc: Accelerator, loss_fn: nn.Module) -> tuple[float, float]:
    """(accuracy, loss) over the whole validation loader."""
    logits, labels = predict_logits(model, loader, acc)
    return (logits.argmax(1) == labels).float().mean().item(), loss_fn(logits, labels).item()


def changing_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors training can change: trainable parameters and buffers (BatchNorm statistics). Frozen weights
    are the pretrained ones for the whole run, so copies of them would only cost memory (a LoRA fit of a 135M
    model: 540 MB per copy for 2 MB of adapters)."""
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    trainable |= {name for name, _ in model.named_buffers()}
    return {k: v for k, v in model.state_dict().items() if k in trainable}


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of what training changes, in host memory: the best epoch never doubles the model on the
    accelerator."""
    return {k: v.detach().to("cpu", copy=True) for k, v in changing_state(model).items()}


def load_changing_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    unexpected = model.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise RuntimeError(f"saved tensors the model does not have: {', '.join(unexpected[:5])}")


class BestModel:
    """The weights to hand back: the best-scoring epoch, or the incoming model when none beat it."""

    def __init__(self):
        self.score, self.state, self.incoming = None, None, None

    def offer(self, score: tuple, model: nn.Module) -> bool:
        if self.score is None or score > self.score:
            self.score, self.state = score, cpu_state(model)
            return True
        return False

    def restore(self, model: nn.Module) -> None:
        if self.state is not None:
            load_changing_state(model, self.state)


class EarlyStopping:
    """Stop after ``patience`` epochs without a better score than this phase's own best epoch.

    Patience counts from the phase's own best, not from the incoming model: the first epochs after
    unfreezing are often worse than the incoming model and still on their way past it.
    ``patience`` None or <= 0 never stops early.
    """

    def __init__(self, patience: int | None, stale: int = 0):
        self.patience = patience if patience and patience > 0 else None
        self.stale = stale

    def update(self, score: tuple, earlier: list[tuple]) -> bool:
        self.stale = 0 if not earlier or score > max(earlier) else self.stale + 1
        return self.patience is not None and self.stale >= self.patience


def _train_epoch(model, loader, optimizer, scheduler, acc, objective, settings, bar) -> float:
    total, seen = 0.0, 0
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for batch in loader:
        with acc.accumulate(model):
            loss, n = objective.loss(model, batch)
            acc.backward(loss)
            if settings.max_grad_norm and acc.sync_gradients:
                acc.clip_grad_norm_(params, settings.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        total += loss.item() * n
        seen += n
        bar.update(1)
    return total / max(seen, 1)


def fit(model: nn.Module, param_groups: list[dict], train_loader: DataLoader, val_loader: DataLoader | None,
        settings: TrainSettings, phase: str = "train",
        set_train_mode: Callable[[nn.Module], None] | None = None, seed: int = 0,
        checkpoint_dir: Path | None = None, keep_incoming: bool = False,
        objective: Objective | None = None) -> list[dict]:
    """Train ``model`` in place; on return it holds the best epoch's weights. Returns one row per epoch.

    ``objective`` gives the loss and validation metrics (default: classification by cross-entropy, with
    validation accuracy monitored). ``keep_incoming``: score the model as it comes in first, and keep it
    unless an epoch beats it (so a fine-tuning phase can never leave a model worse on validation than the
    head phase before it).

    Each epoch re-seeds every RNG from ``seed`` and its number, so data order, augmentation and dropout
    are the same whether a run goes straight through or resumes from ``checkpoint_dir``.
    """
    objective = objective or Classification(settings)
    acc = accelerator(settings)
    optimizer = torch.optim.AdamW(param_groups, lr=settings.lr, weight_decay=settings.weight_decay)
    steps = settings.epochs * math.ceil(len(train_loader) / settings.grad_accum)
    scheduler = _scheduler(settings.schedule, optimizer, steps, settings.warmup_ratio)
    model, optimizer, train_loader, scheduler = acc.prepare(model, optimizer, train_loader, scheduler)
    val_loader = acc.prepare(val_loader) if val_loader is not None else None
    history, best, stopping, first = [], BestModel(), EarlyStopping(settings.patience), 1
    resumed = checkpoint.load(checkpoint_dir, phase)
    if resumed is not None:
        meta, tensors = resumed
        best.state = checkpoint.restore(meta, tensors, acc.unwrap_model(model), optimizer, scheduler)
        history, stopping.stale, first = meta["history"], meta["stale"], meta["epoch"] + 1
        best.score = tuple(meta["best"]) if meta["best"] is not None else None
        log(f"{phase}: resuming after epoch {meta['epoch']}" if not meta["done"] else f"{phase}: already done")
        if meta["done"]:
            first = settings.epochs + 1
    elif keep_incoming and val_loader is not None:
        row = {"train_loss": math.inf, **objective.validate(model, val_loader, acc)}
        best.offer(objective.score(row), acc.unwrap_model(model))
        best.incoming = best.score
        log(f"{phase}: starting from {objective.describe(row)}")
    for epoch in range(first, settings.epochs + 1):
        set_seed(seed + epoch)
        start = time.perf_counter()
        model.train()
        if set_train_mode:
            set_train_mode(acc.unwrap_model(model))
        with progress(total=len(train_loader), desc=f"{phase} {epoch}/{settings.epochs}", unit="batch") as bar:
            row = {"phase": phase, "epoch": epoch,
                   "train_loss": _train_epoch(model, train_loader, optimizer, scheduler, acc, objective, settings,
                                              bar)}
        if val_loader is not None:
            row.update(objective.validate(model, val_loader, acc))
        row["seconds"] = time.perf_counter() - start
        earlier = [objective.score(r) for r in history]
        history.append(row)
        log(_epoch_line(row, objective))
        score = objective.score(row)
        best.offer(score, acc.unwrap_model(model))  # the model to return: the incoming one competes too
        stop = stopping.update(score, earlier)
        if checkpoint_dir is not None and acc.is_main_process:
            checkpoint.save(checkpoint_dir, phase, epoch=epoch, model=acc.unwrap_model(model), best_state=best.state,
                            optimizer=optimizer, scheduler=scheduler, history=history, best=best.score,
                            stale=stopping.stale, done=stop or epoch == settings.epochs)
        if stop:
            log(f"{phase}: early stop after epoch {epoch} (no improvement in {stopping.stale} epochs)")
            break
    if history and best.incoming is not None and best.score == best.incoming:
        log(f"{phase}: no epoch beat the incoming model on validation; keeping it")
    best.restore(acc.unwrap_model(model))
    acc.free_memory()
    return history


def _epoch_line(row: dict, objective: Objective) -> str:
    text = f"{row['phase']} epoch {row['epoch']}: train loss {row['train_loss']:.4f}"
    if any(k.startswith("val_") for k in row):
        text += ", " + objective.describe(row)
    return text + f" ({row['seconds']:.1f}s)"
