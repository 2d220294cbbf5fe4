"""Question answering on real BBC-QA slices through the API and the CLI; strategies; save -> load -> the same
answers; tiny random BERT / DistilBERT / RoBERTa configs for architectures that cannot be had offline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import graft
from graft.tasks.question_answering import FROZEN_WARNING, QuestionAnswerer

SMALL = dict(epochs=1, max_length=128, stride=32, batch_size=8, seed=0)


@pytest.fixture(scope="module")
def bbc_qa(tmp_path_factory) -> Path:
    from graft import datasets

    return datasets.bbc_qa(tmp_path_factory.mktemp("bbc-qa"), limit=60)


def _cli(*args):
    result = subprocess.run([sys.executable, "-m", "graft.cli", *map(str, args)], capture_output=True, text=True,
                            env={**os.environ, "GRAFT_OFFLINE": "1", "GRAFT_QUIET": "1"})
    assert result.returncode == 0, result.stderr
    return result


def test_fit_evaluate_predict_save_load_api(bbc_qa, tmp_path):
    qa = QuestionAnswerer("minilm-l6", "fine-tune", **SMALL).fit(bbc_qa / "train.json")
    assert qa.history and qa.history[0]["train_loss"] > 0 and "val_f1" in qa.history[0]
    report = qa.evaluate(bbc_qa / "test.json")
    assert report["n"] == 60 and 0 <= report["exact_match"] <= report["f1"] <= 100
    context = (bbc_qa / "test.json")
    doc = json.loads(context.read_text())["data"][0]["paragraphs"][0]
    out = qa.save(tmp_path / "qa")
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "config.json", "metrics.json", "tokenizer"}
    question = [(doc["qas"][0]["question"], doc["context"])]
    before, after = qa.predict(question, top_k=3), graft.load(out).predict(question, top_k=3)
    spans = lambda result: [(a["answer"], a["start"], a["end"]) for a in result[0]["answers"]]  # noqa: E731
    assert spans(before) == spans(after)
    # scores: the same up to bf16 rounding (the CPU engine computes in bf16 where the CPU has it)
    assert [a["score"] for a in before[0]["answers"]] == pytest.approx([a["score"] for a in after[0]["answers"]],
                                                                     abs=0.01)
    answer = before[0]["answers"][0]
    assert doc["context"][answer["start"]:answer["end"]] == answer["answer"] and len(before[0]["answers"]) == 3


def test_cli_fit_evaluate_predict(bbc_qa, tmp_path):
    out = tmp_path / "qa"
    fit = _cli("fit", bbc_qa / "train.json", "--task", "qa", "--epochs", "1", "--max-length", "128", "--stride", "32",
               "--limit", "30", "--out", out)
    assert "validation F1" in fit.stdout
    report = json.loads(_cli("evaluate", out, bbc_qa / "test.json", "--json").stdout)
    assert {"exact_match", "f1", "n", "implementation"} <= set(report)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The factory in Leeds employs 400 people and makes bicycles.")
    (docs / "b.txt").write_text("The orchestra will tour Japan in May.")
    answers = json.loads(_cli("predict", out, "--question", "Where will the orchestra tour?", "--context", docs,
                              "--top-k", "2", "--json").stdout)
    assert answers[0]["question"] == "Where will the orchestra tour?" and len(answers[0]["answers"]) == 2
    assert {a["document"] for a in answers[0]["answers"]} <= {str(docs / "a.txt"), str(docs / "b.txt")}


def test_strategies_train_what_they_say(bbc_qa, capsys):
    frozen = QuestionAnswerer("minilm-l6", "feature-extraction", limit=8, **SMALL).fit(bbc_qa / "train.json")
    assert FROZEN_WARNING in capsys.readouterr().err or frozen.strategy_used == "feature-extraction"
    lora = QuestionAnswerer("minilm-l6", "lora", limit=8, **SMALL)
    lora.load_base()
    lora.strategy_used = "lora"
    groups, what = lora.prepare_strategy()
    names = [n for n, p in lora.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n or "qa_outputs" in n for n in names) and "LoRA" in what
    auto = QuestionAnswerer("minilm-l6")
    assert auto.suggest_strategy()[0] == "fine-tune"


@pytest.mark.parametrize("model_type", ["bert", "distilbert", "roberta"])
def test_tiny_random_architectures_train_and_answer(model_type, bbc_qa, tmp_path):
    """Random tiny configs of each family (no weights offline), with MiniLM's real tokenizer."""
    from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoTokenizer

    from graft.backbones import get_cfg
    from graft.backbones.weights import resolve

    minilm = resolve(get_cfg("minilm-l6")).location
    sizes = {"bert": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),
             "distilbert": dict(dim=32, n_layers=2, n_heads=2, hidden_dim=64),
             "roberta": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                             max_position_embeddings=514, pad_token_id=0)}[model_type]
    config = AutoConfig.for_model(model_type, vocab_size=30522, **sizes)
    AutoModelForQuestionAnswering.from_config(config).save_pretrained(tmp_path / model_type)
    AutoTokenizer.from_pretrained(str(minilm)).save_pretrained(tmp_path / model_type)
    for strategy in ("fine-tune", "lora"):
        qa = QuestionAnswerer(str(tmp_path / model_type), strategy, limit=8, **SMALL).fit(bbc_qa / "train.json")
        saved = graft.load(qa.save(tmp_path / f"{model_type}-{strategy}"))
        question = [("What is it?", "It is a small test of the span head.")]
        assert saved.predict(question) == qa.predict(question)


def test_a_qa_checkpoint_is_evaluated_as_it_is(bbc_qa, tmp_path):
    """A folder holding a QA checkpoint (its head trained elsewhere) is scored zero-shot, no fitting."""
    from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoTokenizer

    from graft.backbones import get_cfg
    from graft.backbones.weights import resolve

    folder = tmp_path / "squad-checkpoint"
    config = AutoConfig.for_model("bert", vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64,
                                  architectures=["BertForQuestionAnswering"])
    AutoModelForQuestionAnswering.from_config(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(resolve(get_cfg("minilm-l6")).location)).save_pretrained(folder)
    report = json.loads(_cli("evaluate", folder, bbc_qa / "test.json", "--json").stdout)
    assert report["n"] == 60 and 0 <= report["f1"] <= 100
    answers = json.loads(_cli("predict", folder, "--question", "Who?", "--context", "Ann met Bob.", "--json").stdout)
    assert answers[0]["answers"] and answers[0]["answers"][0]["answer"] in "Ann met Bob."
