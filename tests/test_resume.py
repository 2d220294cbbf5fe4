"""Interrupted fits resume from the last epoch's checkpoint and end exactly where an uninterrupted run does."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

FIT = ["--strategy", "fine-tune", "--epochs", "3", "--head-epochs", "2", "--batch-size", "16",
       "--unfreeze", "2", "--image-size", "96", "--seed", "3"]


def _start(*args):
    env = {**os.environ, "GRAFT_OFFLINE": "1"}
    # a shell without job control starts background jobs with SIGINT ignored: give the child the default back
    return subprocess.Popen([sys.executable, "-m", "graft.cli", "fit", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _metrics(out):
    report = json.loads((out / "metrics.json").read_text())
    history = [{k: v for k, v in row.items() if k != "seconds"}
               for row in _read_history(out / "history.csv")]
    return report["val_metrics"], history


def _close(a, b) -> bool:
    """Equal, except that numbers (also as CSV strings) may differ by float noise."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    try:
        return a == b or abs(float(a) - float(b)) <= 1e-4 * max(1.0, abs(float(b)))
    except (TypeError, ValueError):
        return False


def _read_history(path):
    import csv

    return list(csv.DictReader(open(path)))


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_fine_tune_resumes_to_identical_metrics(elpv_slice, tmp_path, sig):
    straight = tmp_path / "straight"
    proc = _start(elpv_slice / "train", "--out", straight, *FIT)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()

    interrupted = tmp_path / "interrupted"
    proc = _start(elpv_slice / "train", "--out", interrupted, *FIT)
    marker = interrupted / "checkpoint" / "fine-tune.json"
    deadline = time.time() + 600
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(sig)
    code = proc.wait(timeout=120)
    stderr = proc.stderr.read()
    if sig == signal.SIGINT:
        assert code == 130 and "graft fit --resume" in stderr and "Traceback" not in stderr
    assert not (interrupted / "model.safetensors").exists()

    resumed = _start("--resume", interrupted)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert not (interrupted / "checkpoint").exists()
    assert _metrics(interrupted) == _metrics(straight)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    proc = _start("--resume", tmp_path / "nothing")
    assert proc.wait(timeout=120) == 2
    assert "nothing to resume" in proc.stderr.read()


def test_killed_feature_extraction_resumes_to_identical_metrics(tmp_path_factory, tmp_path, monkeypatch):
    from graft import datasets

    data = datasets.elpv(tmp_path_factory.mktemp("elpv-fe"), "binary", limit_per_class=120) / "train"
    fit = ["--strategy", "feature-extraction", "--epochs", "5", "--seed", "1"]
    straight = tmp_path / "straight"
    proc = _start(data, "--out", straight, *fit)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()

    monkeypatch.setenv("GRAFT_FEATURE_CACHE", str(tmp_path / "fresh-cache"))  # the second run starts cold
    interrupted = tmp_path / "interrupted"
    proc = _start(data, "--out", interrupted, *fit)
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline:
        if len(list((tmp_path / "fresh-cache").rglob("*.safetensors"))) >= 20:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "feature extraction finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    cached = len(list((tmp_path / "fresh-cache").rglob("*.safetensors")))
    assert 20 <= cached < 240
    resumed = _start("--resume", interrupted)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    # features computed in other batches (the killed run's, then the rest) carry float noise from fused
    # kernels, so the same history up to that noise; a resume that lost or redid work would differ far more
    assert _close(_metrics(interrupted), _metrics(straight))


def test_a_damaged_cache_entry_is_recomputed_not_served(tmp_path):
    import torch

    from graft.features import FeatureCache

    cache = FeatureCache({"backbone": "x"}, root=tmp_path)
    cache.put("ab" * 32, torch.ones(4))
    path = next(tmp_path.rglob("*.safetensors"))
    path.write_bytes(path.read_bytes()[:-3])  # as if the machine died mid-write without the rename
    assert cache.get("ab" * 32) is None


def test_resume_of_a_run_saved_before_newer_options_uses_their_defaults(tmp_path):
    import argparse

    from graft.commands import _fit_arguments

    saved = tmp_path / "checkpoint" / "args.json"
    saved.parent.mkdir()
    saved.write_text(json.dumps({"command": "fit", "data": "d", "out": str(tmp_path), "epochs": 3}))
    args = _fit_arguments(argparse.Namespace(resume=str(tmp_path)))
    assert args.epochs == 3 and args.data == "d"  # the saved run's own options
    assert args.label_smoothing is None and args.num_workers is None and args.patience == 5  # newer ones: defaults
