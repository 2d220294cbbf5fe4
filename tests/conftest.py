"""Shared fixtures: an isolated graft home (weights cache, feature cache) and small real data slices."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GRAFT_QUIET", "1")


@pytest.fixture(autouse=True)
def graft_home(tmp_path_factory, monkeypatch) -> Path:
    """Each test gets its own empty cache so nothing leaks between tests or from the user's machine."""
    home = tmp_path_factory.mktemp("graft-home")
    monkeypatch.setenv("GRAFT_HOME", str(home))
    monkeypatch.delenv("GRAFT_FEATURE_CACHE", raising=False)
    return home


@pytest.fixture(scope="session")
def elpv_slice(tmp_path_factory) -> Path:
    """A real elpv binary slice: 24 cells per class in train and in test."""
    from graft import datasets

    root = datasets.elpv(tmp_path_factory.mktemp("elpv"), "binary", limit_per_class=24)
    return root


@pytest.fixture(scope="session")
def rotten_slice(tmp_path_factory) -> Path:
    from graft import datasets

    return datasets.rotten_tomatoes(tmp_path_factory.mktemp("rt"), limit_per_class=80)
