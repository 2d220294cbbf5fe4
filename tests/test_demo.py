"""The README's main job, on a small slice: both strategies run, save, and print beside the published results."""
from __future__ import annotations

import json

from graft.demo import run_demo


def test_quick_demo_runs_both_strategies(tmp_path, capsys):
    results = run_demo(tmp_path / "data", tmp_path / "runs", quick=True)
    assert set(results) == {"feature-extraction", "fine-tune"}
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in results.values())
    assert (tmp_path / "runs" / "fine-tune" / "model.safetensors").is_file()
    table = capsys.readouterr().out
    assert "Deitsch et al. 2019, VGG19 fine-tuned (GPU)" in table and "88.42%" in table
    assert json.loads((tmp_path / "runs" / "results.json").read_text())["quick"] is True
