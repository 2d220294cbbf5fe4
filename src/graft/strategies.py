"""Transfer strategies: what is frozen, what trains, and at which learning rate.

- ``feature-extraction``: backbone frozen in eval mode; only the new head trains (on cached features).
- ``fine-tune``: head first, then the last N layer groups unfrozen with discriminative learning rates.
- ``lora``: low-rank adapters (peft) on a frozen transformer, plus the head.
- ``auto``: picks from the amount of data: little data favours a frozen backbone, more data fine-tuning.
"""
from __future__ import annotations

from collections import Counter

from torch import nn

from graft.backbones import LayerGroup
from graft.errors import GraftError

STRATEGIES = ("feature-extraction", "fine-tune", "lora", "auto")
AUTO_FINE_TUNE_MIN_PER_CLASS = 100  # below this per class, a frozen backbone generalises better
BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def choose_auto(labels: list[str], family: str) -> tuple[str, str]:
    """(strategy, reason): small data -> feature extraction, medium and more -> fine-tune."""
    counts = Counter(labels)
    smallest = min(counts.values())
    if smallest < AUTO_FINE_TUNE_MIN_PER_CLASS:
        return "feature-extraction", (
            f"the smallest class has {smallest} examples (< {AUTO_FINE_TUNE_MIN_PER_CLASS}): a small dataset, "
            "so the pretrained features are kept frozen and only a new head is trained")
    return "fine-tune", (
        f"every class has >= {AUTO_FINE_TUNE_MIN_PER_CLASS} examples ({len(labels)} in all): enough data to "
        "adapt the pretrained layers, which usually gives higher accuracy")


def freeze(backbone: nn.Module) -> None:
    for p in backbone.parameters():
        p.requires_grad_(False)


def unfreeze_last(backbone: nn.Module, n: int | str, groups: list[LayerGroup] | None = None) -> list[LayerGroup]:
    """Freeze all, then unfreeze the last ``n`` layer groups (``"all"`` or more than there are: every group).

    ``groups`` default to ``backbone.layer_groups()``; their parameter names are relative to ``backbone``.
    """
    if n != "all" and int(n) < 0:
        raise GraftError(f"unfreeze must be a number >= 0 or 'all', got {n}")
    freeze(backbone)
    groups = backbone.layer_groups() if groups is None else groups
    chosen = groups if n == "all" else groups[max(len(groups) - int(n), 0):] if int(n) > 0 else []
    params = dict(backbone.named_parameters())
    for group in chosen:
        for name in group.params:
            params[name].requires_grad_(True)
    return chosen


def set_batchnorm_mode(backbone: nn.Module, train_bn: bool) -> None:
    """After ``model.train()``: BatchNorm statistics stay frozen unless ``train_bn`` and the layer trains."""
    for module in backbone.modules():
        if isinstance(module, BN_TYPES):
            trainable = any(p.requires_grad for p in module.parameters(recurse=False))
            module.train(train_bn and trainable)


def discriminative_param_groups(backbone: nn.Module, head: nn.Module | list[nn.Parameter], lr: float,
                                unfrozen: list[LayerGroup], decay: float, weight_decay: float) -> list[dict]:
    """The head (a module, or a task's new modules as parameters) at ``lr``; each unfrozen group ``decay``
    times smaller than the one above it."""
    params = dict(backbone.named_parameters())
    head_params = head.parameters() if isinstance(head, nn.Module) else head
    groups = [{"params": [p for p in head_params if p.requires_grad], "lr": lr, "name": "head",
               "weight_decay": weight_decay}]
    for depth, group in enumerate(reversed(unfrozen), start=1):
        tensors = [params[n] for n in group.params if params[n].requires_grad]
        if tensors:
            groups.append({"params": tensors, "lr": lr * decay ** depth, "name": group.name,
                           "weight_decay": weight_decay})
    return groups
