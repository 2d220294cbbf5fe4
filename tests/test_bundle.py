"""A bundle describes itself and is checked on load: format version, task, weights hash."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import graft
from graft import bundle
from graft.errors import BundleError


def _bundle(tmp_path, **config):
    bundle.save_weights(tmp_path, {"w": torch.zeros(2)}, {"task": "image-classification", **config})
    return tmp_path


def test_a_bundle_from_a_newer_graft_is_refused_with_one_clear_line(tmp_path):
    path = _bundle(tmp_path)
    config = json.loads((path / "config.json").read_text())
    config["format_version"] = bundle.FORMAT_VERSION + 1
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match="newer graft"):
        graft.load(path)


def test_a_config_without_format_version_is_not_a_graft_model(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"task": "image-classification"}))
    with pytest.raises(BundleError, match="format_version"):
        graft.load(tmp_path)


def test_an_unknown_task_is_named(tmp_path):
    path = _bundle(tmp_path)
    config = json.loads((path / "config.json").read_text())
    config["task"] = "teleportation"
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match="teleportation"):
        graft.load(path)


def test_weights_are_readable_as_the_umask_allows(tmp_path):
    import os
    import stat

    path = _bundle(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((path / "model.safetensors").stat().st_mode) == 0o666 & ~umask


def test_the_task_registry_imports_no_task_until_asked():
    code = ("import sys, graft.tasks as t; assert 'torch' not in sys.modules, 'torch imported'; "
            "t.get_task('detection'); assert 'graft.tasks.detection' in sys.modules; "
            "assert 'graft.tasks.text_classification' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
