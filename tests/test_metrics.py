"""Plots: non-Latin class names give one note, not a matplotlib warning per glyph; the user's backend stays."""
from __future__ import annotations

import warnings


def test_chinese_class_names_plot_without_warnings(tmp_path, capsys, monkeypatch):
    import matplotlib

    from graft import metrics

    monkeypatch.delenv("GRAFT_QUIET", raising=False)
    backend = matplotlib.get_backend()
    report = metrics.classification_report([0, 1, 1, 2], [0, 1, 2, 2], ["猫", "犬", "鳥"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning escaping the plot fails the test
        metrics.plot_confusion(report, tmp_path / "confusion.png")
    assert (tmp_path / "confusion.png").stat().st_size > 0
    assert matplotlib.get_backend() == backend
    err = capsys.readouterr().err
    assert err.count("note:") <= 1  # one line at most (none where a CJK font is installed)
