"""The detection benchmark's pieces that need no training: subsets, the report, and how ``--only`` merges."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("matplotlib")

from benchmarks import __main__ as bench_main  # noqa: E402
from benchmarks import report  # noqa: E402
from benchmarks.detection import nested_subsets  # noqa: E402


def test_subsets_are_seeded_nested_and_sized():
    a = nested_subsets(66, (0.25, 0.5, 1.0), seed=0)
    assert a == nested_subsets(66, (0.25, 0.5, 1.0), seed=0)
    assert [len(a[f]) for f in (0.25, 0.5, 1.0)] == [16, 33, 66]
    assert set(a[0.25]) <= set(a[0.5]) <= set(a[1.0]) == set(range(66))
    assert nested_subsets(66, (0.25,), seed=1)[0.25] != a[0.25]


def _row(start: str, tiles: int, map_50: float) -> dict:
    return {"start": start, "fraction": tiles / 66, "tiles": tiles, "backbone": "mobilenet_v2",
            "options": {"strategy": "fine-tune"}, "boxes": 10 * tiles, "fit_train_images": tiles - 3,
            "fit_val_images": 3, "epochs": {"head": 10, "fine-tune": 12}, "fit_s": 100.0, "test_map_50": map_50,
            "test_map": map_50 / 3, "test_recall": 0.5, "peak_rss_mb": 2000.0,
            "resolved": {"training": {"epochs": 30}, "strategy": {"unfreeze": "all", "train_bn": False},
                         "image_size": 400, "anchor_sizes": [16, 32], "weights_source": "package", "seed": 0}}


def _detection_section() -> dict:
    runs = [_row("coco", 16, 0.4), _row("coco", 66, 0.6), _row("imagenet", 16, 0.2),
            {"start": "scratch", "fraction": 0.25, "tiles": 16, "options": {}, "error": "timed out after 10s"}]
    settings = {"dataset": "trees", "train_tiles": 66, "test_tiles": 20, "fractions": [0.25, 1.0], "subset_seed": 0,
                "recipe": "graft defaults"}
    speed = {"images_per_s": {"graft_detect": 20.0, "opencv_dnn": 10.0}, "vs_opencv": {"graft_detect": 2.0,
                                                                                     "opencv_dnn": 1.0},
             "detections_at_0.5": {"graft_detect": 5, "opencv_dnn": 6}, "n_images": 8, "rounds": 3, "batch": 8,
             "threads": 1, "runtime": {"fast": True, "bf16": False}, "graft_fuse_per_call_s": 0.05,
             "images": ["a.png"]}
    return {"mode": "full", "accuracy": {"runs": runs, "settings": settings}, "speed": speed}


def _environment() -> dict:
    return {"date": "2000-01-01", "hostname": "h", "cpu_model": "cpu", "logical_cpus": 2, "cpu_capability": "AVX2",
            "threads": 1, "seed": 0, "versions": {"graft": "0"}, "command": "python -m benchmarks", "load": {}}


def test_report_renders_detection(tmp_path):
    results = {"environment": _environment(), "detection": _detection_section()}
    text = report.markdown(results)
    assert "## Detection: test mAP vs training tiles" in text and "## Detection inference speed" in text
    assert "**0.600**" in text and "timed out after 10s" in text and "**2.00x**" in text
    assert "## Targets" not in text  # the targets belong to the speed and accuracy sections
    written = report.plots(results, tmp_path / "2000-01-01-h")
    assert [p.name for p in written] == ["2000-01-01-h-detection.png"] and written[0].stat().st_size > 0


def test_only_detection_keeps_the_other_sections(tmp_path, monkeypatch):
    """--only replaces its own section of today's file and nothing else; row_timeout reaches detection only."""
    calls = {}

    def fake_detection(quick, threads, seed, workdir, row_timeout=None):
        calls["detection"] = row_timeout
        return _detection_section()

    def fake_scaling(quick, threads, seed, workdir):
        calls["scaling"] = True
        return {"settings": {"what": "x", "backbone": "b", "image_size": 96}, "runs": []}

    monkeypatch.setattr(bench_main.common, "LOG", None)  # main() points it at the run's log: restored after
    monkeypatch.setitem(bench_main.SECTIONS, "detection", fake_detection)
    monkeypatch.setitem(bench_main.SECTIONS, "scaling", fake_scaling)
    env = bench_main.environment(type("A", (), {"threads": 1, "seed": 0})())
    stem = tmp_path / f"{env['date']}-{env['hostname']}"
    earlier = {"environment": {**env, "load": {"speed": [0.0, 0.0]}}, "speed": {"kept": True, "command": "c"}}
    (tmp_path / f"{stem.name}.json").write_text(json.dumps(earlier))
    bench_main.main(["--only", "detection,scaling", "--threads", "1", "--out", str(tmp_path), "--row-timeout", "7"])
    saved = json.loads((tmp_path / f"{stem.name}.json").read_text())
    assert saved["speed"] == {"kept": True, "command": "c"}
    assert {"speed", "scaling", "detection"} <= set(saved) and calls == {"detection": 7.0, "scaling": True}
    assert set(saved["environment"]["load"]) == {"speed", "scaling", "detection"}
