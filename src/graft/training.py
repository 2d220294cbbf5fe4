"""The training loop, on Hugging Face accelerate: one code path for a CPU, a GPU, or many processes
(`accelerate launch` / torchrun). Early stopping on validation accuracy keeps the best weights."""
from __future__ import annotations

import copy
import math
import os
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


def loader_workers(requested: int | None = None) -> int:
    """Data-loading processes: none on a CPU (they would take cores from the model), several beside a GPU,
    sharing the cores with the other processes on this machine."""
    if requested is not None:
        return requested
    if device().type != "cuda":
        return 0
    cores = (os.cpu_count() or 1) // max(int(os.environ.get("LOCAL_WORLD_SIZE", "1")), 1)
    return min(8, max(cores - 1, 0))


def _scheduler(name: str, optimizer, steps: int, warmup_ratio: float):
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=max(steps, 1))
    warmup = int(warmup_ratio * steps)
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=max(steps, 1))


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


def fit(model: nn.Module, param_groups: list[dict], train_loader: DataLoader, val_loader: DataLoader | None,
        settings: TrainSettings, phase: str = "train",
        set_train_mode: Callable[[nn.Module], None] | None = None, seed: int = 0,
        checkpoint_dir: Path | None = None, keep_incoming: bool = False) -> list[dict]:
    """Train ``model`` in place; on return it holds the best epoch's weights. Returns one row per epoch.

    ``keep_incoming``: score the model as it comes in first, and keep it unless an epoch beats it (so a
    fine-tuning phase can never leave a model worse on validation than the head phase before it).

    Each epoch re-seeds every RNG from ``seed`` and its number, so data order, augmentation and dropout
    are the same whether a run goes straight through or resumes from ``checkpoint_dir``.
    """
    acc = accelerator(settings)
    optimizer = torch.optim.AdamW(param_groups, lr=settings.lr, weight_decay=settings.weight_decay)
    steps = settings.epochs * math.ceil(len(train_loader) / settings.grad_accum)
    scheduler = _scheduler(settings.schedule, optimizer, steps, settings.warmup_ratio)
    model, optimizer, train_loader, scheduler = acc.prepare(model, optimizer, train_loader, scheduler)
    val_loader = acc.prepare(val_loader) if val_loader is not None else None
    weight = settings.class_weights.to(acc.device) if settings.class_weights is not None else None
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=settings.label_smoothing)
    eval_loss = nn.CrossEntropyLoss()
    history, best, best_state, stale, first = [], None, None, 0, 1
    resumed = checkpoint.load(checkpoint_dir, phase)
    if resumed is not None:
        meta, tensors = resumed
        best_state = checkpoint.restore(meta, tensors, acc.unwrap_model(model), optimizer, scheduler)
        history, stale, first = meta["history"], meta["stale"], meta["epoch"] + 1
        best = tuple(meta["best"]) if meta["best"] is not None else None
        log(f"{phase}: resuming after epoch {meta['epoch']}" if not meta["done"] else f"{phase}: already done")
        if meta["done"]:
            first = settings.epochs + 1
    incoming = None
    if resumed is None and keep_incoming and val_loader is not None:
        accuracy, loss = _validate(model, val_loader, acc, eval_loss)
        best = incoming = (accuracy, -loss)
        best_state = copy.deepcopy(acc.unwrap_model(model).state_dict())
        log(f"{phase}: starting from val accuracy {accuracy:.2%}")
    for epoch in range(first, settings.epochs + 1):
        set_seed(seed + epoch)
        start = time.perf_counter()
        model.train()
        if set_train_mode:
            set_train_mode(acc.unwrap_model(model))
        total, seen = 0.0, 0
        with progress(total=len(train_loader), desc=f"{phase} {epoch}/{settings.epochs}", unit="batch") as bar:
            for inputs, labels in train_loader:
                with acc.accumulate(model):
                    loss = loss_fn(model(**inputs).float(), labels)
                    acc.backward(loss)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
                total += loss.item() * len(labels)
                seen += len(labels)
                bar.update(1)
        row = {"phase": phase, "epoch": epoch, "train_loss": total / max(seen, 1)}
        if val_loader is not None:
            accuracy, loss = _validate(model, val_loader, acc, eval_loss)
            row.update(val_loss=loss, val_accuracy=accuracy)
        row["seconds"] = time.perf_counter() - start
        earlier = [_score(r) for r in history]
        history.append(row)
        log(_epoch_line(row))
        score = _score(row)
        if best is None or score > best:  # the model to return: the incoming one competes too
            best, best_state = score, copy.deepcopy(acc.unwrap_model(model).state_dict())
        # patience counts from this phase's own best epoch: the first epochs after unfreezing are often
        # worse than the incoming model and still on their way past it
        stale = 0 if not earlier or score > max(earlier) else stale + 1
        stop = settings.patience is not None and stale >= settings.patience
        if checkpoint_dir is not None and acc.is_main_process:
            checkpoint.save(checkpoint_dir, phase, epoch=epoch, model=acc.unwrap_model(model), best_state=best_state,
                            optimizer=optimizer, scheduler=scheduler, history=history, best=best, stale=stale,
                            done=stop or epoch == settings.epochs)
        if stop:
            log(f"{phase}: early stop after epoch {epoch} (no improvement in {stale} epochs)")
            break
    unwrapped = acc.unwrap_model(model)
    if history and incoming is not None and best == incoming:
        log(f"{phase}: no epoch beat the incoming model on validation; keeping it")
    if best_state is not None:
        unwrapped.load_state_dict(best_state)
    acc.free_memory()
    return history


def _score(row: dict) -> tuple[float, float]:
    """Higher is better: validation accuracy, then lower validation (or training) loss."""
    return row.get("val_accuracy", 0.0), -row.get("val_loss", row["train_loss"])


def _epoch_line(row: dict) -> str:
    text = f"{row['phase']} epoch {row['epoch']}: train loss {row['train_loss']:.4f}"
    if "val_loss" in row:
        text += f", val loss {row['val_loss']:.4f}, val accuracy {row['val_accuracy']:.2%}"
    return text + f" ({row['seconds']:.1f}s)"
