"""Feature extraction: computed in any order, returned in input order, cached by key."""
from __future__ import annotations

import torch

from graft.features import FeatureCache, extract_features


class _Numbers(torch.utils.data.Dataset):
    def __init__(self, values):
        self.values = values

    def __len__(self):
        return len(self.values)

    def __getitem__(self, i):
        return {"x": torch.tensor([float(self.values[i])])}, 0


def test_features_come_back_in_input_order_whatever_the_computing_order(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAFT_FEATURE_CACHE", str(tmp_path))
    values = [5, 1, 4, 2, 3]
    seen = []

    def encode(batch):
        seen.extend(batch["x"][:, 0].tolist())
        return batch["x"] * 10

    keys = [f"k{v}" for v in values]
    order = sorted(range(len(values)), key=lambda i: values[i])
    cache = FeatureCache({"what": "numbers"})
    out = extract_features(encode, _Numbers(values), keys, cache, batch_size=2, order=order)
    assert seen == [1, 2, 3, 4, 5]  # computed in the given order
    assert out[:, 0].tolist() == [50, 10, 40, 20, 30]  # returned in input order
    again = extract_features(encode, _Numbers(values), keys, cache, batch_size=2, order=order)
    assert torch.equal(again, out) and len(seen) == 5  # second pass: all from the cache
