"""The process-wide fast-path settings."""
from __future__ import annotations

import os

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

def test_building_a_backbone_leaves_the_process_alone(monkeypatch):
    from graft.backbones import create_backbone

    monkeypatch.setattr(runtime, "_runtime", None)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        create_backbone("mobilenet_v2", weights=None)
        assert torch.get_num_threads() == 1 and runtime._runtime is None  # nothing configured behind our back
        assert runtime.settings().fast in (True, False)
    finally:
        torch.set_num_threads(before)


def test_cores_follow_affinity_and_local_world_size(monkeypatch):
    if not hasattr(os, "sched_getaffinity"):
        return
    mine = len(os.sched_getaffinity(0))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert runtime.available_cores() == mine
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(mine * 4))
    assert runtime.available_cores() == 1  # never zero threads


def test_notebooks_get_progress_bars(monkeypatch):
    import sys
    import types

    from graft import progress

    monkeypatch.delenv("GRAFT_QUIET", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert progress.progress(3).disable
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert not progress.progress(3).disable


def test_muted_drops_a_library_s_warnings_and_restores_its_level(caplog):
    import logging

    from graft.progress import muted

    library = logging.getLogger("some.library")
    library.setLevel(logging.INFO)
    with caplog.at_level(logging.INFO, logger="some.library"):
        with muted("some.library"):
            library.warning("a note for its developers")
            library.error("a real failure")
        library.warning("after the block")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["a real failure", "after the block"]
    assert library.level == logging.INFO
