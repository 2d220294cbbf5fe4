"""Every registry entry builds (random weights, offline) with the feature size and layer groups it claims."""
from __future__ import annotations

import pytest
import torch

from graft.backbones import create_backbone, get_cfg, list_backbones

IMAGE = list_backbones("image")
TEXT = list_backbones("text")


def test_zoo_has_the_seed_models():
    for name in ["vgg16", "vgg19", "resnet50", "resnet101", "inception_v3", "mobilenet_v2", "mobilenet_v3_small",
                 "mobilenet_v3_large", "efficientnet_lite0", "efficientnet_b0", "convnext_tiny", "vit_b_16"]:
        assert name in IMAGE
    for name in ["bert-base-uncased", "distilbert-base-uncased", "roberta-base", "gpt2", "minilm-l6"]:
        assert name in TEXT


@pytest.mark.parametrize("name", IMAGE)
def test_image_entry_builds(name):
    cfg = get_cfg(name)
    backbone = create_backbone(name, weights=None).eval()
    size = cfg.preprocessing.input_size
    with torch.inference_mode():
        features = backbone(pixel_values=torch.randn(1, 3, size, size))
    assert features.shape == (1, cfg.feature_dim) == (1, backbone.feature_dim)
    params = sum(p.numel() for p in backbone.parameters()) / 1e6
    assert params == pytest.approx(cfg.params_m, rel=0.01)
    groups = backbone.layer_groups()
    assert len(groups) >= 4 and groups[0].name == "stem"
    named = set(dict(backbone.named_parameters()))
    grouped = [p for g in groups for p in g.params]
    assert sorted(grouped) == sorted(named), "every parameter belongs to exactly one layer group"


@pytest.mark.parametrize("name", TEXT)
def test_text_entry_builds(name):
    cfg = get_cfg(name)
    backbone = create_backbone(name, weights=None).eval()
    ids = torch.randint(5, 1000, (2, 7))
    with torch.inference_mode():
        features = backbone(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert features.shape == (2, cfg.feature_dim)
    params = sum(p.numel() for p in backbone.parameters()) / 1e6
    assert params == pytest.approx(cfg.params_m, rel=0.01)
    groups = [g.name for g in backbone.layer_groups()]
    assert groups[0] == "embeddings" and "layer.0" in groups
    assert sum(g.startswith("layer.") for g in groups) == {"distilbert-base-uncased": 6, "minilm-l6": 6}.get(name, 12)


def test_timm_name_passes_through():
    cfg = get_cfg("resnet18")
    assert cfg.family == "image" and cfg.builder == "timm"
    backbone = create_backbone("resnet18", weights=None)
    assert backbone.feature_dim == 512


def test_unknown_name_is_a_clear_error():
    from graft.errors import GraftError

    with pytest.raises(GraftError, match="unknown backbone 'not-a-model'"):
        get_cfg("not-a-model")


@pytest.mark.parametrize("name", ["mobilenet_v2", "vit_b_16"])
def test_avgmax_pooling_concatenates_average_and_max(name):
    backbone = create_backbone(name, weights=None, pooling="avgmax").eval()
    size = get_cfg(name).preprocessing.input_size
    x = torch.randn(2, 3, size, size)
    with torch.inference_mode():
        maps, pooled = backbone.forward_maps(x), backbone(pixel_values=x)
    dims = (2, 3) if maps.ndim == 4 else (1,)
    assert backbone.feature_dim == 2 * maps.shape[1 if maps.ndim == 4 else -1] == pooled.shape[1]
    assert torch.allclose(pooled, torch.cat([maps.mean(dims), maps.amax(dims)], 1))


@pytest.mark.parametrize("name", ["minilm-l6", "gpt2"])
def test_pool_layers_averages_the_last_hidden_states(name):
    backbone = create_backbone(name, weights=None, pooling="mean", pool_layers=3).eval()
    ids, mask = torch.randint(5, 1000, (2, 7)), torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    with torch.inference_mode():
        states = backbone.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        pooled = backbone(input_ids=ids, attention_mask=mask)
    hidden, weights = torch.stack(states[-3:]).mean(0), mask.unsqueeze(-1).float()
    assert torch.allclose(pooled, (hidden * weights).sum(1) / weights.sum(1), atol=1e-5)
    assert backbone.spec()["pool_layers"] == 3


def test_pool_layers_beyond_the_encoder_is_a_clear_error():
    with pytest.raises(ValueError, match="pool_layers must be between 1 and 7"):
        create_backbone("minilm-l6", weights=None, pool_layers=8)


TRACED = [name for name in IMAGE if get_cfg(name).trace]


def test_the_measured_mobile_nets_and_resnet50_run_traced():
    assert set(TRACED) == {"mobilenet_v2", "mobilenet_v3_large", "efficientnet_lite0", "efficientnet_b0", "resnet50"}


@pytest.mark.parametrize("name", TRACED)
def test_frozen_features_run_traced_and_match_eager(name, monkeypatch):
    from graft import runtime
    from graft.runtime import FrozenTrace, inference_context

    monkeypatch.setenv("GRAFT_BF16", "0")  # fp32, so that the trace is checked to float precision
    monkeypatch.setattr(runtime, "_runtime", None)

    backbone = create_backbone(name, weights=None).eval()
    encode = backbone.frozen_encoder()
    assert isinstance(encode, FrozenTrace)
    x = torch.randn(4, 3, 96, 96)
    with inference_context():
        traced, eager, one = encode(pixel_values=x), backbone(pixel_values=x), encode(pixel_values=x[:1])
    assert encode.traced is not None  # the optimized trace ran, not the eager fallback
    scale = eager.abs().max()
    assert (traced - eager).abs().max() < 1e-4 * scale and (one - eager[:1]).abs().max() < 1e-4 * scale
    assert create_backbone("resnet18", weights=None).frozen_encoder().__class__ is not FrozenTrace
    assert backbone.frozen_encoder(items=10) is backbone  # a few inputs do not pay for building a trace
