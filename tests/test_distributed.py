"""Multi-process training on accelerate (CPU, gloo): the same `graft fit`, launched with 2 processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ACCELERATE = Path(sys.executable).with_name("accelerate")


def _fit(launcher: list[str], data: Path, out: Path) -> dict:
    args = [*launcher, "-m", "graft.cli", "fit", str(data), "--strategy", "fine-tune", "--epochs", "2",
            "--head-epochs", "3", "--image-size", "96", "--batch-size", "16", "--out", str(out)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "GRAFT_OFFLINE": "1", "GRAFT_QUIET": "0"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


def test_two_process_fit_trains_a_correct_model(elpv_slice, tmp_path):
    launcher = [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no"]
    two = _fit(launcher, elpv_slice / "train", tmp_path / "two")
    one = _fit([sys.executable], elpv_slice / "train", tmp_path / "one")
    assert two["val_metrics"]["accuracy"] >= 0.6 and one["val_metrics"]["accuracy"] >= 0.6
    assert abs(two["val_metrics"]["accuracy"] - one["val_metrics"]["accuracy"]) <= 0.25
    assert not (tmp_path / "two" / "checkpoint").exists()  # one process saved, and cleaned up
