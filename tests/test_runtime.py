"""The process-wide fast-path settings."""
from __future__ import annotations

import torch

from graft import runtime


def test_turning_the_fast_path_off_lasts_for_the_run(monkeypatch):
    monkeypatch.setattr(runtime, "_runtime", None)
    monkeypatch.setenv("GRAFT_FAST", "1")
    threads = torch.get_num_threads()
    try:
        assert runtime.configure(fast=False).fast is False  # what `graft --no-fast` does first
        assert runtime.configure().fast is False  # later calls inside fit/predict keep it
        assert runtime.autocast_dtype("cpu") is None
    finally:
        torch.set_num_threads(threads)
