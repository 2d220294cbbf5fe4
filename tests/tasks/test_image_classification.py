"""Image classification end to end on a real elpv slice: fit, evaluate, predict, save/load, caching,
what each strategy freezes, and bad files."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

import graft
from graft.backbones.image import ImageBackbone
from graft.errors import DataError
from graft.runtime import autocast_dtype
from graft.strategies import BN_TYPES, choose_auto
from graft.tasks.image_classification import ImageClassifier


@pytest.fixture
def forward_calls(monkeypatch):
    """Counts backbone forward passes (images through the pretrained trunk)."""
    calls = {"images": 0}
    original = ImageBackbone.forward

    def counting(self, pixel_values):
        calls["images"] += pixel_values.shape[0]
        return original(self, pixel_values)

    monkeypatch.setattr(ImageBackbone, "forward", counting)
    return calls


def test_feature_extraction_fit_evaluate_predict_save_load(elpv_slice, tmp_path, forward_calls):
    clf = ImageClassifier("mobilenet_v2", "feature-extraction", epochs=15, head=(64,))
    clf.fit(elpv_slice / "train")
    assert forward_calls["images"] == 48  # each training image through the backbone exactly once
    report = clf.evaluate(elpv_slice / "test")
    assert report["n"] == 48 and report["accuracy"] >= 0.6, report["accuracy"]  # above chance from 38 cells
    assert set(report["per_class"]) == {"defective", "functional"}
    out = clf.save(tmp_path / "model")
    for name in ["model.safetensors", "config.json", "metrics.json", "history.csv", "curves.png", "confusion.png"]:
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["backbone"]["weights_sha256"].startswith("b0353104")
    assert config["classes"] == ["defective", "functional"] and config["head"]["hidden"] == [64]
    assert config["strategy"]["used"] == "feature-extraction" and config["seed"] == 0
    loaded = graft.load(out)
    loaded.cache = False  # predict through the restored backbone, not cached features
    test_images = sorted((elpv_slice / "test").rglob("*.png"))
    original = clf.predict(test_images, top_k=2)
    restored = loaded.predict(test_images, top_k=2)
    assert [r["label"] for r in original] == [r["label"] for r in restored]
    # bf16 autocast (CPUs with native bf16) makes features depend on the batch they were computed in
    noise = 2e-3 if autocast_dtype() is not None else 1e-5
    assert [r["score"] for r in original] == pytest.approx([r["score"] for r in restored], abs=noise)


def test_small_data_feature_extraction_cross_validates_the_probe_over_every_labelled_cell(elpv_slice, tmp_path):
    """48 labelled cells: the probe's C is chosen by 5-fold cross-validation over all 48 and the head is fitted on
    all of them; the validation metrics are the out-of-fold predictions (each cell predicted by a head that never
    saw it). ``probe=False`` keeps the SGD head on a held-out fifth."""
    clf = ImageClassifier("mobilenet_v2", "feature-extraction").fit(elpv_slice / "train")
    report = clf.run_report
    assert report["split"] == {"kind": "cross-validation", "folds": 5, "seed": 0}
    assert report["train_size"] == report["val_size"] == 48
    assert sum(sum(row) for row in report["val_metrics"]["confusion_matrix"]) == 48
    [row] = clf.history
    assert row["probe_folds"] == 5 and report["val_metrics"]["accuracy"] == pytest.approx(row["val_accuracy"])
    # the pooling the cross-validation chose (average, or average and max) is what the model computes and saves
    assert row["probe_choice"] in ("avg", "avgmax") and clf.model.backbone.pooling == row["probe_choice"]
    assert clf.model.head[-1].in_features == clf.model.backbone.feature_dim == {"avg": 1280, "avgmax": 2560}[
        row["probe_choice"]]
    out = clf.save(tmp_path / "model")
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["split"]["kind"] == "cross-validation"
    assert json.loads((out / "config.json").read_text())["backbone"]["pooling"] == row["probe_choice"]
    cells = sorted((elpv_slice / "test").rglob("*.png"))[:8]
    loaded = graft.load(out)
    assert [r["label"] for r in loaded.predict(cells)] == [r["label"] for r in clf.predict(cells)]
    given = ImageClassifier("mobilenet_v2", "feature-extraction", pooling="avg").fit(elpv_slice / "train")
    assert "probe_choice" not in given.history[0] and given.model.backbone.pooling == "avg"
    held_out = ImageClassifier("mobilenet_v2", "feature-extraction", epochs=3, probe=False).fit(elpv_slice / "train")
    assert held_out.run_report["split"]["kind"] == "stratified" and held_out.run_report["val_size"] < 48
    assert len(held_out.history) == 3 and "probe_C" not in held_out.history[0]


def test_second_feature_extraction_fit_does_no_backbone_pass(elpv_slice, forward_calls):
    ImageClassifier("mobilenet_v2", "feature-extraction", epochs=3).fit(elpv_slice / "train")
    first = forward_calls["images"]
    assert first == 48
    ImageClassifier("mobilenet_v2", "feature-extraction", epochs=5, head=(32,)).fit(elpv_slice / "train")
    assert forward_calls["images"] == first


def test_cache_key_follows_preprocessing(elpv_slice, forward_calls):
    ImageClassifier("mobilenet_v2", "feature-extraction", epochs=1).fit(elpv_slice / "train")
    ImageClassifier("mobilenet_v2", "feature-extraction", epochs=1, image_size=128).fit(elpv_slice / "train")
    assert forward_calls["images"] == 96  # a new image size is a new cache entry


def _trainable_groups(backbone):
    params = dict(backbone.named_parameters())
    return [g.name for g in backbone.layer_groups() if any(params[p].requires_grad for p in g.params)]


def test_feature_extraction_freezes_everything_and_keeps_batchnorm_in_eval(elpv_slice):
    clf = ImageClassifier("mobilenet_v2", "feature-extraction", epochs=2).fit(elpv_slice / "train")
    backbone = clf.model.backbone
    assert _trainable_groups(backbone) == []
    assert all(not m.training for m in backbone.modules() if isinstance(m, BN_TYPES))


def test_fine_tune_unfreezes_last_groups_with_discriminative_lrs(elpv_slice, monkeypatch):
    from graft import training

    seen = {}
    original_fit = training.fit

    def spy(model, param_groups, *args, set_train_mode=None, **kwargs):
        if kwargs.get("phase") == "fine-tune":
            backbone = model.backbone
            seen["trainable"] = _trainable_groups(backbone)
            seen["lrs"] = [(g["name"], g["lr"]) for g in param_groups]
            model.train()
            set_train_mode(model)
            seen["bn_training"] = [m.training for m in backbone.modules() if isinstance(m, BN_TYPES)]
            before = {k: v.clone() for k, v in backbone.state_dict().items() if "running_mean" in k}
            result = original_fit(model, param_groups, *args, set_train_mode=set_train_mode, **kwargs)
            after = backbone.state_dict()
            seen["stats_unchanged"] = all(torch.equal(v, after[k]) for k, v in before.items())
            return result
        return original_fit(model, param_groups, *args, set_train_mode=set_train_mode, **kwargs)

    monkeypatch.setattr(training, "fit", spy)
    clf = ImageClassifier("mobilenet_v2", "fine-tune", unfreeze=2, epochs=1, head_epochs=1, batch_size=16)
    clf.fit(elpv_slice / "train")
    groups = [g.name for g in clf.model.backbone.layer_groups()]
    assert seen["trainable"] == groups[-2:]
    names = [n for n, _ in seen["lrs"]]
    lrs = dict(seen["lrs"])
    assert names == ["head", groups[-1], groups[-2]]
    assert lrs["head"] > lrs[groups[-1]] > lrs[groups[-2]]
    assert not any(seen["bn_training"]) and seen["stats_unchanged"]  # BatchNorm frozen unless --train-bn
    assert _trainable_groups(clf.model.backbone) == []  # frozen again for inference


def test_train_bn_puts_unfrozen_batchnorm_in_training_mode(elpv_slice):
    from graft.strategies import set_batchnorm_mode, unfreeze_last

    clf = ImageClassifier("mobilenet_v2")
    backbone = clf.build_backbone("pretrained")
    unfreeze_last(backbone, 1)
    backbone.train()
    set_batchnorm_mode(backbone, train_bn=True)
    last = set(backbone.layer_groups()[-1].params)
    for name, module in backbone.named_modules():
        if isinstance(module, BN_TYPES):
            assert module.training == (f"{name}.weight" in last)


def test_auto_picks_by_data_size():
    assert choose_auto(["a"] * 40 + ["b"] * 500, "image")[0] == "feature-extraction"
    assert choose_auto(["a"] * 150 + ["b"] * 500, "image")[0] == "fine-tune"
    assert "40 examples" in choose_auto(["a"] * 40 + ["b"] * 500, "image")[1]


def test_auto_on_a_small_slice_chooses_feature_extraction(elpv_slice):
    clf = ImageClassifier("mobilenet_v2", "auto", epochs=1).fit(elpv_slice / "train")
    assert clf.strategy_used == "feature-extraction" and "smallest class" in clf.strategy_reason


def test_bad_files_are_listed_before_training_or_skipped(elpv_slice, tmp_path, forward_calls):
    data = tmp_path / "data"
    shutil.copytree(elpv_slice / "train", data)
    (data / "defective" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (data / "functional" / "notes.jpg").write_text("hello")
    with pytest.raises(DataError) as info:
        ImageClassifier("mobilenet_v2", "feature-extraction").fit(data)
    assert "broken.png" in str(info.value) and "notes.jpg" in str(info.value)
    assert forward_calls["images"] == 0  # nothing trained before the report
    clf = ImageClassifier("mobilenet_v2", "feature-extraction", epochs=1, on_bad_file="skip").fit(data)
    skipped = {s["path"].rsplit("/", 1)[-1] for s in clf.run_report["skipped_files"]}
    assert skipped == {"broken.png", "notes.jpg"}


def test_evaluate_rejects_unknown_labels(elpv_slice, tmp_path):
    clf = ImageClassifier("mobilenet_v2", "feature-extraction", epochs=1).fit(elpv_slice / "train")
    data = tmp_path / "eval"
    shutil.copytree(elpv_slice / "test", data)
    shutil.copytree(data / "defective", data / "cracked")
    with pytest.raises(DataError, match="never trained on: cracked"):
        clf.evaluate(data)


def test_seeded_feature_extraction_fits_are_bit_identical(elpv_slice):
    fits = [ImageClassifier("mobilenet_v2", "feature-extraction", epochs=4, head=(16,), seed=7).fit(elpv_slice / "train")
            for _ in range(2)]
    first, second = (f.model.head.state_dict() for f in fits)
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = ImageClassifier("mobilenet_v2", "feature-extraction", epochs=4, head=(16,), seed=8).fit(elpv_slice / "train")
    assert not all(torch.equal(first[k], v) for k, v in other.model.head.state_dict().items())


def test_augmentation_follows_its_options():
    def steps(clf):
        return {type(t).__name__: t for t in clf.transform(True).transforms}

    default = steps(ImageClassifier("mobilenet_v2"))
    assert default["RandomResizedCropAndInterpolation"].scale == (0.5, 1.0) and "RandomVerticalFlip" not in default
    tuned = steps(ImageClassifier("mobilenet_v2", min_scale=0.8, vflip=True))
    assert tuned["RandomResizedCropAndInterpolation"].scale == (0.8, 1.0) and "RandomVerticalFlip" in tuned
    evaluation = ImageClassifier("mobilenet_v2").transform(False).transforms
    assert not any("Random" in type(t).__name__ for t in evaluation)  # evaluation is deterministic
    assert (evaluation[0].size, evaluation[1].size) == (256, (224, 224))  # resize, then centre crop 0.875
    whole = ImageClassifier("mobilenet_v2", crop_pct=1.0).transform(False).transforms
    assert (whole[0].size, whole[1].size) == (224, (224, 224))


def test_bf16_features_are_cached_apart_from_fp32(monkeypatch):
    """A GPU (or bf16 CPU) run must never hand its bf16 features to an fp32 run through the cache."""
    from graft.features import FeatureCache
    from graft.heads import BackboneWithHead
    from graft.tasks import classification

    clf = ImageClassifier("mobilenet_v2", "feature-extraction")
    clf.model = BackboneWithHead(clf.build_backbone("pretrained"), torch.nn.Identity())
    monkeypatch.setattr(classification, "autocast_dtype", lambda device: None)
    fp32 = clf.cache_identity()
    monkeypatch.setattr(classification, "autocast_dtype", lambda device: torch.bfloat16)
    bf16 = clf.cache_identity()
    assert "autocast" not in fp32 and bf16["autocast"] == "torch.bfloat16"
    assert FeatureCache(fp32).dir != FeatureCache(bf16).dir


def test_a_fit_starts_with_a_summary_and_warns_about_a_tiny_validation_split(elpv_slice, capsys, monkeypatch):
    monkeypatch.delenv("GRAFT_QUIET", raising=False)
    ImageClassifier("mobilenet_v2", "feature-extraction", seed=0, probe=False, epochs=2).fit(elpv_slice / "train")
    err = capsys.readouterr().err
    assert "model: mobilenet_v2 (" in err and "pretrained parameters + a new head of 2,562" in err
    assert "data: 38 training / 10 validation examples, 2 classes" in err
    assert "warning: a validation split of 10" in err
    ImageClassifier("mobilenet_v2", "feature-extraction", seed=0).fit(elpv_slice / "train")  # cross-validated
    err = capsys.readouterr().err
    assert "data: 48 labelled examples, 2 classes; the head is chosen by 5-fold cross-validation" in err
    assert "warning: a validation split" not in err
