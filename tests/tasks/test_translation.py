"""Translation through the task layer on real pairs (the built-in UI translations) and a real packaged LM.

SmolLM2-135M (converted once per session) keeps these fits to seconds; the default gemma-3-270m is exercised by
the slow test and the benchmark. Every fit here is tiny: the assertions are about the mechanics (targets, stops,
save -> load -> identical output, reports, the CLI), the benchmark measures quality.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import graft
import pytest
from graft.errors import GraftError
from graft.generation.formatting import IGNORE
from graft.tasks.translation import Translator, new_token_budget, prompt_text

pytest.importorskip("sacrebleu")


@pytest.fixture(scope="session")
def zh_pairs(tmp_path_factory) -> Path:
    """48 training and up to 6 test pairs of real English -> Chinese interface strings."""
    from graft import datasets

    try:
        root = datasets.ui_translations(tmp_path_factory.mktemp("ui"), tgt="zh", max_test=6)
    except Exception as exc:  # noqa: BLE001 - a machine without the catalogs
        pytest.skip(str(exc))
    out = tmp_path_factory.mktemp("zh-slice")
    for part, n in (("train", 48), ("test", 6)):
        with open(root / f"{part}.tsv", encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        short = [r for r in rows[1:] if len(r[0]) < 60][:n]
        with open(out / f"{part}.tsv", "w", encoding="utf-8", newline="") as f:
            csv.writer(f, delimiter="\t", lineterminator="\n").writerows([rows[0], *short])
    return out


@pytest.fixture(scope="session")
def fitted(zh_pairs, converted, tmp_path_factory):
    """A tiny LoRA fit, saved; graft's cache pointed at the converted model for the fit's duration."""
    home = tmp_path_factory.mktemp("tr-home")
    (home / "weights").mkdir()
    (home / "weights" / "smollm2-135m-instruct").symlink_to(converted)
    old = os.environ.get("GRAFT_HOME")
    os.environ["GRAFT_HOME"] = str(home)
    try:
        model = Translator("smollm2-135m-instruct", src="en", tgt="zh", epochs=1, batch_size=8,
                           val_fraction=0.1).fit(zh_pairs / "train.tsv")
        out = model.save(tmp_path_factory.mktemp("tr") / "model")
    finally:
        os.environ["GRAFT_HOME"] = old or ""
    return model, out, home


def test_targets_are_the_translation_and_its_end_token_only(fitted):
    model, _, _ = fitted
    ids, labels = model.example("Open the file", "打开文件")
    prompt = [i for i, label in zip(ids, labels) if label == IGNORE]
    targets = [label for label in labels if label != IGNORE]
    assert model.tokenizer.decode(prompt, skip_special_tokens=True) == "English: Open the file\nChinese:"
    assert targets[-1] == model.tokenizer.eos_token_id
    assert model.tokenizer.decode(targets[:-1]).strip() == "打开文件"
    assert ids[len(prompt):] == targets  # targets are the tokens that follow the prompt


def test_fit_report_compares_base_model_and_copying(fitted):
    model, _, _ = fitted
    report = model.run_report
    assert report["fine_tuned"]["val_perplexity"] < report["base_model"]["val_perplexity"]
    validation = report["validation"]
    for key in ("fine_tuned", "base_model", "copy_source"):
        assert {"chrf", "bleu", "chrf_signature", "bleu_signature"} <= set(validation[key])
    assert validation["fine_tuned"]["sentences"] >= 4
    assert "tok:zh" in validation["fine_tuned"]["bleu_signature"]


def test_save_load_gives_identical_translations(fitted, zh_pairs, monkeypatch):
    model, out, home = fitted
    monkeypatch.setenv("GRAFT_HOME", str(home))
    sources = ["Open the file", "The folder could not be created"]
    loaded = graft.load(out)
    assert isinstance(loaded, Translator) and (loaded.src, loaded.tgt) == ("en", "zh")
    assert loaded.translate(sources) == model.translate(sources)
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "translation" and config["src"] == "en" and config["tgt"] == "zh"


def test_batched_sorted_decoding_equals_one_at_a_time(fitted):
    model, _, _ = fitted
    sources = ["Save", "Could not read the configuration file of this program", "Open the file"]
    together = model.translate(sources, batch_size=3)
    alone = [model.translate([s], batch_size=1)[0] for s in sources]
    assert together == alone and all("\n" not in t for t in together)


def test_evaluate_scores_every_pair_against_base_and_copy(fitted, zh_pairs):
    model, _, _ = fitted
    report = model.evaluate(zh_pairs / "test.tsv")
    assert report["model"] == "smollm2-135m-instruct" and report["strategy"] == "lora"
    lines = (zh_pairs / "test.tsv").read_text(encoding="utf-8").splitlines()
    assert report["pairs"] == len(lines) - 1 and report["tgt"] == "zh"
    assert {"fine_tuned", "base_model", "copy_source"} <= set(report)
    assert "chrF" in Translator.format_report(report)


def test_cli_evaluates_the_pretrained_model_as_it_is(fitted, zh_pairs):
    """`graft evaluate ZOO DATA --task translation`: the un-fine-tuned model's score, the one fitting must beat;
    it is the base-model row of the fitted model's report on the same pairs."""
    model, _, home = fitted
    env = {**os.environ, "GRAFT_HOME": str(home)}
    done = subprocess.run([sys.executable, "-m", "graft.cli", "evaluate", "smollm2-135m-instruct",
                           str(zh_pairs / "test.tsv"), "--task", "translation", "--tgt", "zh", "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["strategy"] == "pretrained" and report["base_model"] is None
    tuned = model.evaluate(zh_pairs / "test.tsv")
    assert report["fine_tuned"]["chrf"] == pytest.approx(tuned["base_model"]["chrf"], abs=1e-6)
    assert report["copy_source"] == tuned["copy_source"]


def test_cli_predict_reads_one_sentence_per_line(fitted, tmp_path):
    _, out, home = fitted
    env = {**os.environ, "GRAFT_HOME": str(home)}
    sentences = tmp_path / "in.txt"
    sentences.write_text("Open the file\n\nClose the window\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "graft.cli", "predict", str(out), "--file", str(sentences), "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [r["source"] for r in results] == ["Open the file", "Close the window"]


def test_cli_fit_without_tgt_is_one_line(zh_pairs):
    done = subprocess.run([sys.executable, "-m", "graft.cli", "fit", str(zh_pairs / "train.tsv"), "--task",
                           "translation", "--out", str(zh_pairs / "never")], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["graft: error: --task translation needs --tgt (the target language: "
                                                "zh, ar, ur, ...)"]


def test_prediction_inputs_read_files_and_refuse_binary_ones(tmp_path):
    from argparse import Namespace

    good, binary = tmp_path / "in.txt", tmp_path / "photo.jpg"
    good.write_text("Open the file\n\n  Close it  \n", encoding="utf-8")
    binary.write_bytes(b"\xff\xd8\xff\xe0 not text")
    model = Translator(tgt="zh")
    args = Namespace(text=["Save"], inputs=[], file=[str(good)])
    assert model.prediction_inputs(args) == ["Save", "Open the file", "Close it"]
    with pytest.raises(GraftError, match="photo.jpg: not UTF-8 text"):
        model.prediction_inputs(Namespace(text=None, inputs=[str(binary)], file=None))
    with pytest.raises(GraftError, match="missing.txt: no such file"):
        model.prediction_inputs(Namespace(text=None, inputs=[], file=[str(tmp_path / "missing.txt")]))


def test_language_errors():
    with pytest.raises(GraftError, match="both 'en'"):
        Translator(src="en", tgt="en")
    with pytest.raises(GraftError, match="unknown language 'klingon'"):
        Translator(tgt="klingon")


def test_prompt_and_length_budget():
    assert prompt_text("Open  the\nfile", "en", "ur") == "English: Open the file\nUrdu:"
    assert new_token_budget(10) == 46 and new_token_budget(1000) == 512  # grows with the source, capped


@pytest.mark.slow
def test_gemma_learns_chinese_from_a_few_hundred_pairs(tmp_path):
    """The default model: 320 real pairs, one epoch; validation chrF well above the base model's and copying."""
    from graft import datasets

    root = datasets.ui_translations(tmp_path, tgt="zh")
    model = Translator(tgt="zh", epochs=1, limit=320).fit(root / "train.tsv")
    v = model.run_report["validation"]
    assert v["fine_tuned"]["chrf"] > v["base_model"]["chrf"] + 10
    assert v["fine_tuned"]["chrf"] > v["copy_source"]["chrf"] + 10
