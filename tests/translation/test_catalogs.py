"""The built-in UI translations: accelerators out, Fluent messages paired by id, and the split by source string."""
from __future__ import annotations

import csv

import pytest
from graft.translation.catalogs import clean, fluent_messages, gettext_pairs, libreoffice_pairs
from graft.translation.data import Pairs


@pytest.mark.parametrize("raw, cleaned", [("_Open", "Open"), ("打开(_O)", "打开"), ("另存为(_A)…", "另存为…"),
                                          ("Save &As...", "Save As..."), ("R&D", "R&D"),
                                          ("snake_case  name\n", "snake_case name")])
def test_clean_removes_accelerators_only(raw, cleaned):
    assert clean(raw) == cleaned


def test_clean_removes_libreoffice_mnemonics_and_direction_marks():
    assert clean("~Open File...", tilde_accelerators=True) == "Open File..."
    assert clean("打开(~O)", tilde_accelerators=True) == "打开"
    assert clean("~/path", tilde_accelerators=True) == "~/path"  # a home directory is no mnemonic
    assert clean("\u200fمثال \u200e%s") == "مثال %s"


def test_libreoffice_catalogs_give_real_arabic_pairs():
    pairs = Pairs("t", "en", "ar")
    if not libreoffice_pairs("ar", pairs):
        pytest.skip("the libreoffice-l10n asset is not installed (scripts/setup.sh fetches it)")
    assert len(pairs) > 10_000
    texts = pairs.sources + pairs.targets
    assert not [t for t in texts if "%PRODUCTNAME" in t or "\u200f" in t]
    assert sum("LibreOffice" in s for s in pairs.sources) > 100  # product names written out on both sides
    assert sum(t.startswith("~") for t in texts) == 0


def test_fluent_messages():
    text = """# comment
about = About { -brand-short-name }
    .title = About this browser
multi =
    First line
    second line
plural = { $count ->
    [one] One tab
   *[other] { $count } tabs
}
-private-term = Hidden
refers = Uses { other-message }
"""
    messages = fluent_messages(text)
    assert messages == {"about": "About Firefox", "about.title": "About this browser",
                        "multi": "First line second line"}


def test_system_catalogs_give_real_chinese_pairs():
    pairs = Pairs("t", "en", "zh")
    if not gettext_pairs("zh", pairs):
        pytest.skip("no zh_CN gettext catalogs installed on this machine")
    assert len(pairs) > 1000
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in pairs.targets[:200])


def test_ui_translations_split_keeps_each_source_on_one_side(tmp_path):
    from graft import datasets

    try:
        root = datasets.ui_translations(tmp_path, tgt="zh", max_test=60)
    except Exception as exc:  # noqa: BLE001 - a machine without the catalogs
        pytest.skip(str(exc))
    read = {}
    for part in ("train", "test"):
        with open(root / f"{part}.tsv", encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        assert rows[0] == ["en", "zh"]
        read[part] = rows[1:]
    assert len(read["test"]) >= 60 and len(read["train"]) > 1000
    assert not {s for s, _ in read["train"]} & {s for s, _ in read["test"]}
    assert all(len(s.split()) >= 4 for s, _ in read["test"])
    text = (root / "README.txt").read_text(encoding="utf-8")
    assert f"train {len(read['train'])} pairs, test {len(read['test'])} pairs" in text
    assert datasets.ui_translations(tmp_path, tgt="zh", max_test=60) == root  # built once


def test_ui_translations_refuses_other_targets(tmp_path):
    from graft import datasets
    from graft.errors import DataError

    with pytest.raises(DataError, match="ui-translations has zh, ar, ur as --tgt"):
        datasets.ui_translations(tmp_path, tgt="fr")


def test_ui_translations_are_the_same_file_in_every_process(tmp_path):
    """Seeded training needs the same rows in the same order: no set's hash order may leak into the file."""
    import os
    import subprocess
    import sys

    files = []
    for seed in ("1", "2"):
        root = tmp_path / seed
        code = f"from graft import datasets; datasets.ui_translations({str(root)!r}, tgt='ur')"
        done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.skip(done.stderr.strip().splitlines()[-1])
        files.append((root / "ui-translations-ur" / "train.tsv").read_bytes())
    assert files[0] == files[1]
