"""Languages: ISO 639-1 codes, their names and scripts, and each model family's own language tokens.

A user says ``--src en --tgt ur``; mBART wants ``ur_PK``, NLLB ``urd_Arab``, M2M100 ``__ur__`` (``ur`` to its
tokenizer), a multi-target Marian model a ``>>urd<<`` prefix, T5 a "translate English to Urdu:" prompt. One
table here, so no model family guesses.
"""
from __future__ import annotations

import re

from graft.errors import GraftError

NAMES = {"en": "English", "ur": "Urdu", "ar": "Arabic", "zh": "Chinese", "fr": "French", "de": "German",
         "es": "Spanish", "hi": "Hindi", "fa": "Persian", "ru": "Russian", "ja": "Japanese", "pt": "Portuguese"}
ALIASES = {"zh_cn": "zh", "zh-cn": "zh", "zh_hans": "zh", "zh-hans": "zh", "ur_pk": "ur", "ar_sa": "ar",
           "en_us": "en", "en-us": "en", "en_gb": "en"}

# the letters a text in the language is written in (at least one of them must appear)
SCRIPTS = {
    "ur": re.compile(r"[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF]"),
    "ar": re.compile(r"[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF]"),
    "fa": re.compile(r"[\u0600-\u06FF\uFB50-\uFDFF\uFE70-\uFEFF]"),
    "zh": re.compile(r"[\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF]"),
    "ja": re.compile(r"[\u3040-\u30FF\u4E00-\u9FFF]"),
    "hi": re.compile(r"[\u0900-\u097F]"),
    "ru": re.compile(r"[\u0400-\u04FF]"),
    "en": re.compile(r"[A-Za-z]"), "fr": re.compile(r"[A-Za-zÀ-ÿ]"), "de": re.compile(r"[A-Za-zÄÖÜäöüß]"),
    "es": re.compile(r"[A-Za-zÁÉÍÑÓÚáéíñóú]"), "pt": re.compile(r"[A-Za-zÀ-ú]"),
}

# model family -> ISO code -> that family's language code
MBART = {"en": "en_XX", "ur": "ur_PK", "ar": "ar_AR", "zh": "zh_CN", "fr": "fr_XX", "de": "de_DE", "es": "es_XX",
         "hi": "hi_IN", "fa": "fa_IR", "ru": "ru_RU", "ja": "ja_XX", "pt": "pt_XX"}
NLLB = {"en": "eng_Latn", "ur": "urd_Arab", "ar": "arb_Arab", "zh": "zho_Hans", "fr": "fra_Latn",
        "de": "deu_Latn", "es": "spa_Latn", "hi": "hin_Deva", "fa": "pes_Arab", "ru": "rus_Cyrl",
        "ja": "jpn_Jpan", "pt": "por_Latn"}
MARIAN = {"en": "eng", "ur": "urd", "ar": "ara", "zh": "cmn_Hans", "fr": "fra", "de": "deu", "es": "spa",
          "hi": "hin", "fa": "pes", "ru": "rus", "ja": "jpn", "pt": "por"}


def code(language: str) -> str:
    """``language`` as a known ISO 639-1 code (``zh_CN`` -> ``zh``), or a one-line error naming the choices."""
    key = language.strip().lower()
    key = ALIASES.get(key, key)
    if key not in NAMES:
        raise GraftError(f"unknown language {language!r}: use an ISO 639-1 code, one of {', '.join(NAMES)}")
    return key


def name(language: str) -> str:
    return NAMES[code(language)]


def in_script(text: str, language: str) -> bool:
    """Whether ``text`` holds at least one letter of ``language``'s script (unknown scripts pass)."""
    pattern = SCRIPTS.get(code(language))
    return pattern is None or bool(pattern.search(text))


def family(model_type: str, vocab) -> str:
    """The language-code family of a seq2seq model: its config's ``model_type``, refined by its vocabulary
    (NLLB checkpoints say ``m2m_100``; only their vocabulary holds ``eng_Latn``)."""
    if model_type == "m2m_100" and "eng_Latn" in vocab:
        return "nllb"
    return {"mbart50": "mbart", "mt5": "t5", "umt5": "t5", "nllb-moe": "nllb"}.get(model_type, model_type)


def family_codes(kind: str, src: str, tgt: str, vocab=()) -> dict:
    """How a seq2seq model family is told the languages: ``src_lang`` / ``tgt_lang`` for its tokenizer, the
    token that must start the output (``forced_bos``), and a text prefix for the source (``prefix``)."""
    src, tgt = code(src), code(tgt)
    codes = {"src_lang": None, "tgt_lang": None, "forced_bos": None, "prefix": ""}
    if kind == "mbart":
        codes.update(src_lang=MBART[src], tgt_lang=MBART[tgt], forced_bos=MBART[tgt])
    elif kind == "nllb":
        codes.update(src_lang=NLLB[src], tgt_lang=NLLB[tgt], forced_bos=NLLB[tgt])
    elif kind == "m2m_100":
        codes.update(src_lang=src, tgt_lang=tgt, forced_bos=f"__{tgt}__")
    elif kind == "marian" and f">>{MARIAN[tgt]}<<" in vocab:  # a multi-target model reads a >>lang<< prefix
        codes.update(prefix=f">>{MARIAN[tgt]}<< ")
    elif kind == "t5":
        codes.update(prefix=f"translate {NAMES[src]} to {NAMES[tgt]}: ")
    return codes


def normalise_urdu(text: str) -> str:
    """Arabic kaf / yeh written for the Urdu letters (translators mix them) folded into the Urdu ones."""
    return text.translate(_URDU_FOLD)


_URDU_FOLD = str.maketrans({"\u0643": "\u06A9", "\u064A": "\u06CC", "\u0649": "\u06CC"})
