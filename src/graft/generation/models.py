"""Causal LMs from the zoo, offline first: a cached transformers folder, a packaged GGUF (converted once into
that cache), or the hub.

Loading a GGUF through transformers dequantises every tensor (tens of seconds); :func:`cached_folder` does it
once and saves a safetensors folder that loads in about a second. The GGUF's own special-token ids are kept:
transformers' GGUF tokenizer import names ``<|im_start|>`` as SmolLM2's end token, where the file says
``<|im_end|>``, so a model fine-tuned with it would never learn to stop.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from graft.errors import GraftError

# ChatML, for base models that have no chat template of their own
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
          "{% endif %}")


# Gemma's own turn markup, for its base model (its end-of-turn token stops generation; see ``stop_ids``)
GEMMA_CHAT = ("{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' "
              "else message['role'] %}{{ '<start_of_turn>' + role + '\n' + message['content'] + '<end_of_turn>\n' }}"
              "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}")
TURN_ENDS = ("<|im_end|>", "<end_of_turn>")


def stop_ids(tokenizer) -> list[int]:
    """Tokens that end a reply: the end token, and a chat template's end-of-turn token where it has one."""
    vocab = tokenizer.get_vocab()
    ids = [tokenizer.eos_token_id] + [vocab[t] for t in TURN_ENDS if t in vocab]
    return list(dict.fromkeys(i for i in ids if i is not None))


def cached_folder(gguf: Path, target: Path) -> Path:
    """``target``: a transformers folder converted from ``gguf``, written atomically on first use."""
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from graft.progress import log

    log(f"converting {gguf.name} once into {target} (later loads take about a second)")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    fix_special_tokens(tokenizer, model)
    return save_folder(model, tokenizer, target)


def save_folder(model, tokenizer, target: Path) -> Path:
    """A transformers folder (safetensors + tokenizer) written to a temporary folder, then renamed into place:
    a folder at ``target`` is always complete."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def fix_special_tokens(tokenizer, model) -> None:
    """End token from the model's config (the checkpoint's own), and a padding token distinct from it: padding
    that is also the end token gets masked out of the labels, and the model never learns to stop."""
    eos_id = model.config.eos_token_id
    if isinstance(eos_id, list):
        eos_id = eos_id[0]
    if eos_id is not None and tokenizer.eos_token_id != eos_id:
        tokenizer.eos_token = tokenizer.convert_ids_to_tokens(eos_id)
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        spare = [t for t in (tokenizer.unk_token, "<|endoftext|>", "<pad>")
                 if t is not None and t in tokenizer.get_vocab() and tokenizer.convert_tokens_to_ids(t) != eos_id]
        if spare:
            tokenizer.pad_token = spare[0]
        else:
            tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
            model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = eos_id if eos_id is not None else tokenizer.eos_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = model.config.eos_token_id


def load_causal_lm(name: str, weights: str | Path | None = "pretrained"):
    """(model in eval mode, tokenizer, ResolvedWeights or None) for the zoo's ``name`` or a Hugging Face id.

    ``weights``: "pretrained" (resolved offline first), a folder or GGUF file, or None (a random model of the
    checkpoint's shape: needs its config, i.e. a cached or packaged copy).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from graft.backbones import get_cfg, resolve
    from graft.backbones.registry import BackboneCfg, HubModel, TextPreprocessing
    from graft.backbones.weights import ResolvedWeights, cache_location, file_sha256

    cfg = None
    if Path(name).is_dir():  # a transformers folder of one's own
        resolved = ResolvedWeights(Path(name), f"folder {name}", file_sha256(Path(name)))
    else:
        cfg = get_cfg(name) if "/" not in name else BackboneCfg(
            name, "lm", "transformers", "auto", 0, 0.0, TextPreprocessing(512, "last"), (HubModel(name),),
            description="Hugging Face causal LM (passed through)")
        resolved = resolve(cfg, None if weights in ("pretrained", None) else weights)
    location = resolved.location
    if cfg is not None and cfg.arch == "gemma3" and location.is_dir() and not (location / "config.json").exists():
        from graft.backbones.weights import graft_home
        from graft.generation import gemma

        location = gemma.assembled_gguf(graft_home() / "gguf")  # the packaged parts, joined once
    if location.suffix == ".gguf":  # a packaged or given GGUF: converted once into the cache
        if cfg is not None and cfg.arch == "gemma3":
            from graft.generation import gemma

            location = gemma.convert(location, cache_location(cfg))
        else:
            location = cached_folder(location, cache_location(cfg))
        resolved = ResolvedWeights(location, f"{resolved.source}, converted", file_sha256(location))
    tokenizer = AutoTokenizer.from_pretrained(location)
    if weights is None:
        from transformers import AutoConfig

        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(location))
        resolved = None
    else:
        model = AutoModelForCausalLM.from_pretrained(location, dtype="float32")
    fix_special_tokens(tokenizer, model)
    if not tokenizer.chat_template:
        tokenizer.chat_template = GEMMA_CHAT if "<start_of_turn>" in tokenizer.get_vocab() else CHATML
    if tokenizer.padding_side != "left":
        tokenizer.padding_side = "left"  # generation continues from the right end of every row
    return model.eval(), tokenizer, resolved


def check_family(name: str) -> None:
    from graft.backbones import get_cfg

    if "/" in name or Path(name).exists():
        return
    if get_cfg(name).family != "lm":
        raise GraftError(f"'{name}' is not a language model for generation: see `graft models --family lm`")
