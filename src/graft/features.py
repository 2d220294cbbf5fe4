"""Frozen-backbone features, computed once per input and cached on disk.

An entry's key is the backbone's identity (name, weights hash, preprocessing, pooling) plus the input's
content hash, so a re-run or a later epoch never repeats a backbone pass. Entries are safetensors files
written to a temporary name and renamed, so a half-written entry is never served.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Dataset, Subset

from graft.progress import log, progress
from graft.runtime import inference_context


def cache_root() -> Path:
    from graft.backbones.weights import graft_home

    return Path(os.environ.get("GRAFT_FEATURE_CACHE", graft_home() / "features"))


def backbone_key(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


class FeatureCache:
    def __init__(self, identity: dict, root: Path | None = None):
        self.dir = (root or cache_root()) / backbone_key(identity)
        self.identity = identity

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.safetensors"

    def get(self, key: str) -> torch.Tensor | None:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            return load_file(path)["features"]
        except Exception:  # noqa: BLE001 - a damaged entry is recomputed, never served
            return None

    def put(self, key: str, features: torch.Tensor) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file({"features": features.detach().float().cpu().contiguous()}, tmp)
        os.replace(tmp, path)
        meta = self.dir / "identity.json"
        if not meta.exists():
            meta.write_text(json.dumps(self.identity, indent=1, sort_keys=True))


def extract_features(
    encode: Callable[[dict], torch.Tensor],
    dataset: Dataset,
    keys: Sequence[str],
    cache: FeatureCache | None,
    batch_size: int = 64,
    num_workers: int = 0,
    collate_fn=None,
    device: torch.device | str = "cpu",
    desc: str = "features",
    order: Sequence[int] | None = None,
) -> torch.Tensor:
    """Features for every item of ``dataset`` (``keys[i]`` identifies item i), from cache where possible.

    ``order`` is the order in which to compute the missing ones (texts sorted by length pad less).
    """
    matrix = _Matrix(len(keys))  # filled row by row: no list of rows plus a stacked copy at the end
    missing = []
    for i, key in enumerate(keys):
        row = cache.get(key) if cache else None
        if row is None:
            missing.append(i)
        else:
            matrix.put(i, row)
    if order is not None:
        wanted = set(missing)
        missing = [i for i in order if i in wanted]
    processes = _processes()
    if missing and processes > 1:  # each process of a multi-process run computes its share, then all share all
        from accelerate import PartialState
        from accelerate.utils import gather_object

        state, rows = PartialState(), []
        state.wait_for_everyone()  # every process has read the cache before any writes to it: the same `missing`
        with state.split_between_processes(missing) as mine:
            _compute(encode, dataset, list(mine), keys, cache, batch_size, num_workers, collate_fn, device, desc,
                     lambda index, row: rows.append((index, row.clone())))
        log(f"{desc}: {len(missing)} inputs computed by {processes} processes ({len(mine)} each or so)")
        gathered = gather_object(rows)
        if sorted(index for index, _ in gathered) != sorted(missing):
            raise RuntimeError(f"{desc}: the processes computed {len(gathered)} of {len(missing)} inputs")
        for index, row in gathered:
            matrix.put(index, row)
    elif missing:
        _compute(encode, dataset, missing, keys, cache, batch_size, num_workers, collate_fn, device, desc, matrix.put)
    return matrix.tensor


def _processes() -> int:
    """Processes of this run (``accelerate launch`` / torchrun set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def _compute(encode, dataset, indices: list[int], keys, cache, batch_size, num_workers, collate_fn, device,
             desc, sink: Callable[[int, torch.Tensor], None]) -> None:
    """Features of ``indices``, each handed to ``sink(index, row)`` and written to the cache as it comes."""
    if not indices:
        return
    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size, num_workers=num_workers,
                        collate_fn=collate_fn, persistent_workers=False)
    position = 0
    with progress(total=len(indices), desc=desc, unit="item") as bar, inference_context(device):
        for inputs, _ in loader:
            out = encode({k: v.to(device) for k, v in inputs.items()}).float().cpu()
            for row in out:
                index = indices[position]
                sink(index, row)
                if cache:
                    cache.put(keys[index], row.clone())
                position += 1
            bar.update(len(out))


class _Matrix:
    """An (n, ...) float tensor allocated once the first row's shape is known."""

    def __init__(self, rows: int):
        self.rows, self.data = rows, None

    def put(self, index: int, row: torch.Tensor) -> None:
        if self.data is None:
            self.data = torch.empty((self.rows, *row.shape), dtype=torch.float32)
        self.data[index] = row

    @property
    def tensor(self) -> torch.Tensor:
        return self.data if self.data is not None else torch.empty(0)
