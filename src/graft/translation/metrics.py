"""BLEU and chrF from sacrebleu, with their signatures (what a reader needs to compare numbers).

Chinese is scored with sacrebleu's ``zh`` tokenizer, everything else with ``13a``; never ``spm`` / ``flores``,
which download a SentencePiece model. Urdu is also scored after folding the Arabic kaf / yeh into the Urdu
letters on both sides, because translators mix them and a model should not be charged for the mix.
"""
from __future__ import annotations

from graft.translation import languages


def scores(hypotheses: list[str], references: list[str], tgt: str) -> dict:
    """Corpus BLEU and chrF of ``hypotheses`` against one reference each, with signatures."""
    from sacrebleu.metrics import BLEU, CHRF

    tgt = languages.code(tgt)
    bleu, chrf = BLEU(tokenize="zh" if tgt in ("zh", "ja") else "13a"), CHRF()
    out = {"bleu": round(bleu.corpus_score(hypotheses, [references]).score, 2),
           "chrf": round(chrf.corpus_score(hypotheses, [references]).score, 2),
           "bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature()),
           "sentences": len(hypotheses)}
    if tgt == "ur":
        folded = [languages.normalise_urdu(h) for h in hypotheses], [languages.normalise_urdu(r) for r in references]
        out["chrf_normalised"] = round(chrf.corpus_score(folded[0], [folded[1]]).score, 2)
        out["bleu_normalised"] = round(bleu.corpus_score(folded[0], [folded[1]]).score, 2)
    return out
