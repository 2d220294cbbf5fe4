"""Small real bundles to export and serve: MobileNetV2 on elpv cells, MiniLM-L6 on film reviews."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def own_home(tmp_path_factory):
    """A graft home for module-scoped fixtures (the per-test one is function-scoped)."""
    home, old = tmp_path_factory.mktemp("deploy-home"), os.environ.get("GRAFT_HOME")
    os.environ["GRAFT_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("GRAFT_HOME", None)
    else:
        os.environ["GRAFT_HOME"] = old


@pytest.fixture(scope="module")
def image_bundle(elpv_slice, own_home, tmp_path_factory) -> Path:
    from graft import ImageClassifier

    model = ImageClassifier("mobilenet_v2", "feature-extraction", epochs=8, seed=0).fit(elpv_slice / "train")
    return model.save(tmp_path_factory.mktemp("bundles") / "cells")


@pytest.fixture(scope="module")
def text_bundle(rotten_slice, own_home, tmp_path_factory) -> Path:
    from graft import TextClassifier

    model = TextClassifier("minilm-l6", "feature-extraction", epochs=8, seed=0).fit(rotten_slice / "train.csv")
    return model.save(tmp_path_factory.mktemp("bundles") / "reviews")
