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

    # average pooling fixed: on 48 cells the cross-validated head may otherwise choose average + max pooling,
    # whose int8 export flips more cells (tests/deploy/test_export.py measures both)
    model = ImageClassifier("mobilenet_v2", "feature-extraction", epochs=8, seed=0, pooling="avg")
    return model.fit(elpv_slice / "train").save(tmp_path_factory.mktemp("bundles") / "cells")


@pytest.fixture(scope="module")
def text_bundle(rotten_slice, own_home, tmp_path_factory) -> Path:
    from graft import TextClassifier

    model = TextClassifier("minilm-l6", "feature-extraction", epochs=8, seed=0).fit(rotten_slice / "train.csv")
    return model.save(tmp_path_factory.mktemp("bundles") / "reviews")


@pytest.fixture(scope="module")
def detection_bundle(own_home, tmp_path_factory) -> Path:
    """The COCO SSD with new class convs trained for one epoch on five real aerial tree tiles."""
    from graft import ObjectDetector, datasets

    tiles = datasets.trees(tmp_path_factory.mktemp("trees"), limit=5)
    model = ObjectDetector("ssd_mobilenet_v2_coco", "feature-extraction", epochs=2, batch_size=4, seed=0,
                           min_score=0.2)
    return model.fit(tiles / "train").save(tmp_path_factory.mktemp("bundles") / "trees")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Real photographs from scikit-image's data module (a cat, an astronaut, a coffee cup, a rocket, ...)."""
    from PIL import Image
    from skimage import data

    root = tmp_path_factory.mktemp("photos")
    for name in ("chelsea", "astronaut", "coffee", "rocket", "cat", "immunohistochemistry"):
        image = getattr(data, name)()
        Image.fromarray(image[..., :3]).save(root / f"{name}.png")
    return root


@pytest.fixture(scope="module")
def coco_bundle(own_home, tmp_path_factory) -> Path:
    """The COCO SSD as it was trained (80 classes), saved as a bundle."""
    from graft import ObjectDetector

    return ObjectDetector.pretrained("ssd_mobilenet_v2_coco", min_score=0.5).save(
        tmp_path_factory.mktemp("bundles") / "coco")


@pytest.fixture(scope="module")
def qa_bundle(own_home, tmp_path_factory) -> Path:
    """MiniLM-L6 with a span head fine-tuned briefly on real BBC-QA questions."""
    from graft import QuestionAnswerer, datasets

    data = datasets.bbc_qa(tmp_path_factory.mktemp("bbc-qa"), limit=40)
    model = QuestionAnswerer("minilm-l6", "fine-tune", epochs=1, limit=24, max_length=128, stride=32, seed=0)
    return model.fit(data / "train.json").save(tmp_path_factory.mktemp("bundles") / "qa")
