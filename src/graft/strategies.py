"""Transfer strategies: what is frozen, what trains, and at which learning rate.

- ``feature-extraction``: backbone frozen in eval mode; only the new head trains (on cached features).
- ``fine-tune``: head first, then the last N layer groups unfrozen with discriminative learning rates.
- ``lora``: low-rank adapters (peft) on a frozen transformer, plus the head.
- ``auto``: picks from the amount of data, as the seed's "when to use" says.
"""
from __future__ import annotations

from torch import nn

from graft.backbones import Backbone, LayerGroup

STRATEGIES = ("feature-extraction", "fine-tune", "lora", "auto")
AUTO_FINE_TUNE_MIN_PER_CLASS = 100  # below this per class, a frozen backbone generalises better
BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def choose_auto(labels: list[str], family: str) -> tuple[str, str]:
    """(strategy, reason) following the seed: small data -> feature extraction, medium+ -> fine-tune."""
    counts = {label: labels.count(label) for label in set(labels)}
    smallest = min(counts.values())
    if smallest < AUTO_FINE_TUNE_MIN_PER_CLASS:
        return "feature-extraction", (
            f"the smallest class has {smallest} examples (< {AUTO_FINE_TUNE_MIN_PER_CLASS}): a small dataset, "
            "so the pretrained features are kept frozen and only a new head is trained")
    return "fine-tune", (
        f"every class has >= {AUTO_FINE_TUNE_MIN_PER_CLASS} examples ({len(labels)} in all): enough data to "
        "adapt the pretrained layers, which usually gives higher accuracy")


def freeze(backbone: Backbone) -> None:
    for p in backbone.parameters():
        p.requires_grad_(False)


def unfreeze_last(backbone: Backbone, n: int | str) -> list[LayerGroup]:
    """Freeze all, then unfreeze the last ``n`` layer groups (``"all"`` for every group)."""
    freeze(backbone)
    groups = backbone.layer_groups()
    chosen = groups if n == "all" else groups[len(groups) - int(n):] if int(n) > 0 else []
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


def discriminative_param_groups(backbone: Backbone, head: nn.Module, lr: float, unfrozen: list[LayerGroup],
                                decay: float, weight_decay: float) -> list[dict]:
    """Head at ``lr``; each unfrozen group ``decay`` times smaller than the one above it."""
    params = dict(backbone.named_parameters())
    groups = [{"params": [p for p in head.parameters() if p.requires_grad], "lr": lr, "name": "head",
               "weight_decay": weight_decay}]
    for depth, group in enumerate(reversed(unfrozen), start=1):
        tensors = [params[n] for n in group.params if params[n].requires_grad]
        if tensors:
            groups.append({"params": tensors, "lr": lr * decay ** depth, "name": group.name,
                           "weight_decay": weight_decay})
    return groups
