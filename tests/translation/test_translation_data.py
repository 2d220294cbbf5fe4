"""Parallel-text readers (TSV, CSV, JSONL, .po, .mo) and the checks that skip pairs a model cannot learn from."""
from __future__ import annotations

import json

import pytest
from graft.errors import DataError
from graft.translation.data import problem, read_pairs


def test_tsv_with_language_header(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("en\tur\torigin\nOpen the file\tفائل کھولیں\tgtk\nSave\tمحفوظ کریں\tgtk\n", encoding="utf-8")
    pairs = read_pairs(path, "en", "ur")
    assert pairs.sources == ["Open the file", "Save"] and pairs.targets[0] == "فائل کھولیں"


def test_bare_two_column_tsv_reads_its_first_line_as_a_pair(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("Open the file\t打开文件\nClose the window\t关闭窗口\n", encoding="utf-8")
    assert read_pairs(path, "en", "zh").targets == ["打开文件", "关闭窗口"]


def test_csv_without_named_columns_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("a,b\nOpen,打开\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs\.csv: name the columns 'en' and 'zh'"):
        read_pairs(path, "en", "zh")


def test_csv_with_source_target_columns(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text('source,target\n"Open, then close",افتح ثم أغلق\n', encoding="utf-8")
    assert read_pairs(path, "en", "ar").sources == ["Open, then close"]


def test_jsonl_layouts_and_a_record_without_texts(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"en": "Open the file", "zh": "打开文件"}, {"translation": {"en": "Close it", "zh": "关闭它"}},
            {"source": "Save all", "target": "全部保存"}, {"en": "No target here"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    pairs = read_pairs(path, "en", "zh")
    assert pairs.targets == ["打开文件", "关闭它", "全部保存"]
    assert pairs.report()["skipped"] == 1 and "pairs.jsonl:4" in pairs.examples_skipped[0]


def _catalog():
    polib = pytest.importorskip("polib")
    po = polib.POFile()
    po.metadata = {"Content-Type": "text/plain; charset=UTF-8"}
    po.append(polib.POEntry(msgid="Open the file", msgstr="فائل کھولیں"))
    po.append(polib.POEntry(msgid="Delete everything", msgstr="سب کچھ حذف کریں", flags=["fuzzy"]))
    po.append(polib.POEntry(msgid="%d file", msgid_plural="%d files", msgstr_plural={0: "%d فائل", 1: "%d فائلیں"}))
    po.append(polib.POEntry(msgid="Not translated", msgstr=""))
    po.append(polib.POEntry(msgctxt="menu", msgid="Quit the program", msgstr="پروگرام بند کریں"))
    return po


@pytest.mark.parametrize("suffix", [".po", ".mo"])
def test_gettext_catalogs_skip_fuzzy_and_empty_and_read_plurals(tmp_path, suffix):
    po = _catalog()
    path = tmp_path / f"app{suffix}"
    po.save(str(path)) if suffix == ".po" else po.save_as_mofile(str(path))
    pairs = read_pairs(path, "en", "ur")
    expected = {("Open the file", "فائل کھولیں"), ("%d file", "%d فائل"), ("Quit the program", "پروگرام بند کریں")}
    assert set(zip(pairs.sources, pairs.targets)) == expected
    # the untranslated entry is skipped from the .po; compiled catalogs leave it (and fuzzy ones) out themselves
    assert pairs.skipped["empty side"] == (1 if suffix == ".po" else 0)


def test_a_folder_of_catalogs(tmp_path):
    po = _catalog()
    (tmp_path / "ur" / "LC_MESSAGES").mkdir(parents=True)
    po.save(str(tmp_path / "ur" / "LC_MESSAGES" / "a.po"))
    po.save_as_mofile(str(tmp_path / "ur" / "LC_MESSAGES" / "b.mo"))
    pairs = read_pairs(tmp_path, "en", "ur")
    assert len(pairs) == 3 and pairs.skipped["duplicate pair"] == 3  # the same entries twice, kept once


@pytest.mark.parametrize("source, target, reason", [
    ("Open", "  ", "empty side"),
    ("Firefox", "Firefox", "identical sides"),
    ("Deleted %s files", "已删除文件", "placeholders differ"),
    ("Hello {name}", "你好 {user}", "placeholders differ"),
    ("Page %1 of %2", "第 %1 页", "placeholders differ"),
    ("Cannot open $(ARG1).", "无法打开文件。", "placeholders differ"),
    ("Save %TITLE now", "立即保存", "placeholders differ"),
    ("Open the file", "Open the file now", "target not in Chinese script"),
    ("打开文件", "打开文件吧", "source not in English script"),
])
def test_problem_reasons(source, target, reason):
    assert problem(source, target, "en", "zh") == reason


def test_reordered_and_fluent_placeholders_are_the_same_placeholders():
    assert problem("%s of %d", "%2$d 中的 %1$s", "en", "zh") is None
    assert problem("Welcome { $user }", "欢迎 {$user}", "en", "zh") is None
    assert problem("Page %1 of %2 in $(ARG1)", "$(ARG1) 中第 %1 页，共 %2 页", "en", "zh") is None
    assert problem("100% done", "100% 完成", "en", "zh") is None  # a per cent sign is no placeholder


def test_unreadable_inputs_are_one_line(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_pairs(tmp_path / "missing.tsv", "en", "zh")
    (tmp_path / "x.parquet").write_text("")
    with pytest.raises(DataError, match="not parallel text"):
        read_pairs(tmp_path / "x.parquet", "en", "zh")
    (tmp_path / "broken.mo").write_bytes(b"not a catalog")
    with pytest.raises(DataError, match="broken.mo: not a readable gettext catalog"):
        read_pairs(tmp_path / "broken.mo", "en", "zh")
