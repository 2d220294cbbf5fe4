"""Stratified splitting: partition, determinism, fraction, tiny classes."""
from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graft.data.split import class_names, stratified_split
from graft.errors import DataError


def test_class_names():
    assert class_names(["b", None, "a", "b"]) == ["a", "b"]
    assert class_names([]) == []


def test_every_class_in_both_parts_and_singletons_in_train():
    labels = ["a"] * 10 + ["b"] * 2 + ["c"] * 3 + ["lonely"]
    train, val = stratified_split(labels, val_fraction=0.25, seed=3)
    assert len(val) == 4 and train == sorted(train) and val == sorted(val)
    assert {labels[i] for i in val} == {"a", "b", "c"}
    assert {labels[i] for i in train} == {"a", "b", "c", "lonely"}


def test_more_classes_than_validation_slots():
    labels = [str(i // 2) for i in range(40)]  # 20 classes of 2
    train, val = stratified_split(labels, val_fraction=0.1, seed=0)
    assert len(val) == 4 and len({labels[i] for i in train}) == 20


def test_seed_changes_split():
    labels = ["a", "b"] * 50
    assert stratified_split(labels, seed=1) != stratified_split(labels, seed=2)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_fraction_validated(fraction):
    with pytest.raises(DataError, match="between 0 and 1"):
        stratified_split(["a", "a", "b", "b"], val_fraction=fraction)


def test_unsplittable_inputs():
    with pytest.raises(DataError, match="no class has 2 or more"):
        stratified_split(["a", "b", "c"])
    with pytest.raises(DataError, match="no label"):
        stratified_split(["a", None, "a"])


label_lists = st.lists(st.sampled_from("abcdefg"), min_size=2, max_size=200).filter(
    lambda ys: max(Counter(ys).values()) >= 2
)


@settings(max_examples=150, deadline=None)
@given(label_lists, st.floats(0.05, 0.95), st.integers(0, 2**32 - 1))
def test_split_properties(labels, fraction, seed):
    train, val = stratified_split(labels, val_fraction=fraction, seed=seed)
    assert set(train).isdisjoint(val) and sorted(train + val) == list(range(len(labels)))
    assert (train, val) == stratified_split(labels, val_fraction=fraction, seed=seed)
    counts = Counter(labels)
    splittable = [y for y, c in counts.items() if c >= 2]
    capacity = sum(counts[y] - 1 for y in splittable)  # each splittable class keeps one training example
    target = min(max(round(fraction * len(labels)), 1), capacity)
    assert len(val) == target
    assert all(counts[labels[i]] >= 2 for i in val)
    for y in splittable:
        assert any(labels[i] == y for i in train)
        if target >= len(splittable):
            assert any(labels[i] == y for i in val)
