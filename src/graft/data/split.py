"""Stratified train/validation splits that also work for tiny classes."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from graft.errors import DataError


def class_names(labels: Iterable[str | None]) -> list[str]:
    """Sorted unique labels, without None."""
    return sorted({y for y in labels if y is not None})


def stratified_split(labels: Sequence[str], val_fraction: float = 0.2, seed: int = 0) -> tuple[list[int], list[int]]:
    """(train, val) sorted index lists, stratified by label and deterministic for `seed`.

    The validation part has round(val_fraction * n) items where possible. Classes with a single example go to
    train; every other class gets at least one example in each part while the validation size allows.
    """
    if not 0 < val_fraction < 1:
        raise DataError(f"the validation fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    labels = list(labels)
    if any(y is None for y in labels):
        raise DataError("cannot split the data: some items have no label")
    groups: dict[str, list[int]] = {}
    for i, y in enumerate(labels):
        groups.setdefault(y, []).append(i)
    splittable = [y for y in sorted(groups, key=str) if len(groups[y]) >= 2]
    if not splittable:
        raise DataError(
            f"cannot make a validation split of {len(labels)} example(s): no class has 2 or more examples"
        )
    rng = np.random.default_rng(seed)
    counts = np.array([len(groups[y]) for y in splittable])
    quotas = _allocate(counts, round(val_fraction * len(labels)), rng)
    val: list[int] = []
    for y, quota in zip(splittable, quotas):
        members = groups[y]
        val += [members[j] for j in rng.permutation(len(members))[:quota]]
    chosen = set(val)
    return [i for i in range(len(labels)) if i not in chosen], sorted(val)


def _allocate(counts: np.ndarray, target: int, rng: np.random.Generator) -> np.ndarray:
    """Validation items per class: proportional, summing to `target`, each in 1..count-1 where possible."""
    k, total = len(counts), int(counts.sum())
    target = min(max(target, 1), total - k)  # every class keeps at least one training example
    if target < k:  # fewer validation slots than classes: one each for randomly chosen classes
        quotas = np.zeros(k, dtype=int)
        quotas[rng.choice(k, size=target, replace=False)] = 1
        return quotas
    ideal = counts * target / total
    quotas = np.clip(np.floor(ideal).astype(int), 1, counts - 1)
    while (diff := target - int(quotas.sum())) != 0:
        step = 1 if diff > 0 else -1
        room = quotas < counts - 1 if step > 0 else quotas > 1
        gap = np.where(room, (ideal - quotas) * step, -np.inf)
        quotas[int(np.argmax(gap))] += step
    return quotas
