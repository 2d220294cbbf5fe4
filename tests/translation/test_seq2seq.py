"""The encoder-decoder route on a tiny random Marian model (no translation checkpoint can be had offline): the
source to the encoder, the target as labels, fine-tuning that lowers the loss, save -> load -> same output, and
the family's forced first token on a tiny M2M100."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import graft
import pytest
import torch
from graft.tasks.translation import Translator

PAIRS = [("Open the file", "打开文件"), ("Close the file", "关闭文件"), ("Open the window", "打开窗口"),
         ("Close the window", "关闭窗口"), ("Save the file", "保存文件"), ("Save the window", "保存窗口")] * 4


def _tokenizer(folder: Path, extra: list[str]):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.BertNormalizer(handle_chinese_chars=True, lowercase=False)  # one token per hanzi
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([s for pair in PAIRS for s in pair],
                            trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>", *extra]))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(folder)
    return fast


def _tiny(folder: Path, config_name: str, extra=()) -> Path:
    import transformers

    tokenizer = _tokenizer(folder, list(extra))
    config = getattr(transformers, config_name)(
        vocab_size=len(tokenizer), d_model=64, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=64,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    torch.manual_seed(0)
    transformers.AutoModelForSeq2SeqLM.from_config(config).save_pretrained(folder)
    return folder


@pytest.fixture
def pairs_file(tmp_path) -> Path:
    path = tmp_path / "pairs.tsv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter="\t", lineterminator="\n").writerows([("en", "zh"), *dict(PAIRS).items()])
    return path


def test_marian_fine_tune_save_load(tmp_path, pairs_file):
    folder = _tiny(tmp_path / "tiny-marian", "MarianConfig")
    model = Translator(str(folder), src="en", tgt="zh", epochs=60, lr=1e-2, batch_size=6, mixed_precision="no",
                       patience=None)
    model.fit(pairs_file, val=pairs_file)
    assert model.seq2seq is not None and model.strategy_used == "fine-tune"  # auto: all of it
    default = Translator(str(folder), "fine-tune", tgt="zh")
    default.load_base()
    default.strategy_used = "fine-tune"
    assert default.option("lr") == 5e-5  # a pretrained translation model's rate, not the warm-started one's
    report = model.run_report
    assert report["fine_tuned"]["val_loss"] < 0.5 * report["base_model"]["val_loss"]
    # a random model writes any of its tokens; the fitted one writes the targets' words, then stops
    words = {t for _, t in PAIRS}
    assert all(t.replace(" ", "") in words for t in model.translate([s for s, _ in PAIRS]))
    out = model.save(tmp_path / "bundle")
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "encoder-decoder"
    loaded = graft.load(out)
    sources = [s for s, _ in PAIRS[:6]]
    assert loaded.translate(sources) == model.translate(sources)


def test_m2m100_output_starts_with_the_target_language_token(tmp_path):
    folder = _tiny(tmp_path / "tiny-m2m", "M2M100Config", extra=["__en__", "__zh__"])
    model = Translator(str(folder), src="en", tgt="zh")
    model.load_base()
    assert model.seq2seq.kind == "m2m_100" and model.seq2seq.codes["forced_bos"] == "__zh__"
    batch = model.seq2seq.encode_sources(["Open the file"])
    out = model.model.generate(**batch, max_new_tokens=4, **model.seq2seq.generate_options())
    assert out[0, 1].item() == model.tokenizer.convert_tokens_to_ids("__zh__")


def test_a_model_without_the_target_language_is_one_line(tmp_path):
    from graft.errors import GraftError

    folder = _tiny(tmp_path / "tiny-m2m", "M2M100Config", extra=["__en__"])
    with pytest.raises(GraftError, match="has no '__zh__' token: it does not translate into Chinese"):
        Translator(str(folder), src="en", tgt="zh").load_base()
