"""Language codes: ISO codes per model family, on tiny random seq2seq models built from their configs."""
from __future__ import annotations

import pytest
from graft.errors import GraftError
from graft.translation import languages


def test_codes_and_their_errors():
    assert languages.code("zh_CN") == "zh" and languages.code("UR") == "ur"
    with pytest.raises(GraftError, match="unknown language 'xx'"):
        languages.code("xx")


@pytest.mark.parametrize("kind, vocab, expected", [
    ("mbart", (), {"src_lang": "en_XX", "tgt_lang": "ur_PK", "forced_bos": "ur_PK", "prefix": ""}),
    ("nllb", (), {"src_lang": "eng_Latn", "tgt_lang": "urd_Arab", "forced_bos": "urd_Arab", "prefix": ""}),
    ("m2m_100", (), {"src_lang": "en", "tgt_lang": "ur", "forced_bos": "__ur__", "prefix": ""}),
    ("marian", {">>urd<<"}, {"src_lang": None, "tgt_lang": None, "forced_bos": None, "prefix": ">>urd<< "}),
    ("marian", set(), {"src_lang": None, "tgt_lang": None, "forced_bos": None, "prefix": ""}),
    ("t5", (), {"src_lang": None, "tgt_lang": None, "forced_bos": None, "prefix": "translate English to Urdu: "}),
])
def test_family_codes(kind, vocab, expected):
    assert languages.family_codes(kind, "en", "ur", vocab) == expected


def test_nllb_is_told_from_m2m100_by_its_vocabulary():
    assert languages.family("m2m_100", {"eng_Latn": 1}) == "nllb"
    assert languages.family("m2m_100", {"__en__": 1}) == "m2m_100"
    assert languages.family("mt5", {}) == "t5" and languages.family("mbart50", {}) == "mbart"


@pytest.mark.parametrize("config_name, kind", [("MBartConfig", "mbart"), ("M2M100Config", "m2m_100"),
                                              ("MarianConfig", "marian"), ("T5Config", "t5")])
def test_forced_first_token_on_tiny_random_models(config_name, kind):
    """The family's target-language token, placed in a tiny random model's vocabulary, is the first generated
    token when passed as ``forced_bos_token_id``; prefix families need no forced token."""
    import torch
    import transformers

    config = getattr(transformers, config_name)(vocab_size=64, d_model=16, encoder_layers=1, decoder_layers=1,
                                                encoder_attention_heads=2, decoder_attention_heads=2,
                                                encoder_ffn_dim=32, decoder_ffn_dim=32, num_layers=1, num_heads=2,
                                                d_kv=8, d_ff=32, decoder_start_token_id=0, pad_token_id=1,
                                                eos_token_id=2, max_position_embeddings=64)
    model = transformers.AutoModelForSeq2SeqLM.from_config(config).eval()
    assert languages.family(config.model_type, {}) == kind
    codes = languages.family_codes(kind, "en", "zh")
    vocab = {codes["forced_bos"]: 7} if codes["forced_bos"] else {}
    extra = {"forced_bos_token_id": vocab[codes["forced_bos"]]} if vocab else {}
    out = model.generate(input_ids=torch.tensor([[5, 6, 2]]), max_new_tokens=3, do_sample=False, **extra)
    if vocab:
        assert out[0, 1].item() == 7
    else:
        assert codes["prefix"] == ("translate English to Chinese: " if kind == "t5" else "")


def test_urdu_letters_fold():
    assert languages.normalise_urdu("كيا") == "کیا"
    assert languages.in_script("کیا", "ur") and not languages.in_script("kya", "ur")
