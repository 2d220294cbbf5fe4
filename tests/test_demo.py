"""The README's main job, on a small slice: both strategies run, save, and print beside the published results."""
from __future__ import annotations

import json

import pytest

from graft.demo import run_demo


def test_quick_demo_runs_both_strategies(tmp_path, capsys):
    results = run_demo(tmp_path / "data", tmp_path / "runs", quick=True)
    assert set(results) == {"feature-extraction", "fine-tune"}
    import graft

    test = tmp_path / "data" / "elpv-binary" / "test"
    for name, r in results.items():  # the reported figure is what the saved model scores on the test split
        assert graft.load(tmp_path / "runs" / name).evaluate(test)["accuracy"] == pytest.approx(r["test_accuracy"])
    table = capsys.readouterr().out
    assert "Deitsch et al. 2019, VGG19 fine-tuned (GPU)" in table and "88.42%" in table
    assert json.loads((tmp_path / "runs" / "results.json").read_text())["quick"] is True
