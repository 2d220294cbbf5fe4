"""Exact match and F1 as SQuAD scores them, through torchmetrics (never ``evaluate.load``, which downloads code).

English answers: torchmetrics' ``SQuAD`` (lower case, punctuation and articles removed, token F1, best over the
gold answers). Chinese (and other text written without spaces): the same, over characters, as the CMRC and
DuReader evaluations do. SQuAD v2: an unanswerable question scores 1 when the prediction is empty, 0 otherwise;
``HasAns``/``NoAns`` give the two halves.
"""
from __future__ import annotations

import re
import string
from collections import Counter

from graft.qa.data import QAExample

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def is_cjk(text: str) -> bool:
    """Text mostly written without spaces between words (Chinese, Japanese): scored by characters."""
    letters = [c for c in text if not c.isspace()]
    return bool(letters) and sum(bool(_CJK.match(c)) for c in letters) / len(letters) > 0.3


def _char_normalise(text: str) -> list[str]:
    punctuation = set(string.punctuation) | set("，。！？；：、“”‘’（）《》【】…—·")
    return [c for c in text.lower() if not c.isspace() and c not in punctuation]


def char_scores(prediction: str, golds: list[str]) -> tuple[float, float]:
    """(exact match, F1) over characters, best over the gold answers."""
    pred = _char_normalise(prediction)
    best_em = best_f1 = 0.0
    for gold in golds:
        ref = _char_normalise(gold)
        best_em = max(best_em, float(pred == ref))
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            precision, recall = common / len(pred), common / len(ref)
            best_f1 = max(best_f1, 2 * precision * recall / (precision + recall))
    return best_em, best_f1


def squad_scores(predictions: dict[str, str], examples: list[QAExample]) -> dict:
    """EM and F1 in percent (SQuAD's scale) overall, and for answerable / unanswerable questions."""
    from torchmetrics.text import SQuAD

    em_f1: dict[str, tuple[float, float]] = {}
    latin_preds, latin_targets = [], []
    for ex in examples:
        pred = predictions.get(ex.id, "")
        if not ex.answerable:
            em_f1[ex.id] = (float(pred == ""),) * 2
        elif is_cjk(ex.answers[0].text):
            em_f1[ex.id] = char_scores(pred, [a.text for a in ex.answers])
        else:
            latin_preds.append((ex.id, pred))
            latin_targets.append(ex)
    metric = SQuAD()
    for (qid, pred), ex in zip(latin_preds, latin_targets):  # one update per question: per-question scores
        score = metric([{"prediction_text": pred, "id": qid}],
                       [{"answers": {"text": [a.text for a in ex.answers],
                                     "answer_start": [a.start for a in ex.answers]}, "id": qid}])
        em_f1[qid] = (float(score["exact_match"]) / 100, float(score["f1"]) / 100)
        metric.reset()
    return summarise(em_f1, examples)


def summarise(em_f1: dict[str, tuple[float, float]], examples: list[QAExample]) -> dict:
    def mean(ids: list[str]) -> dict:
        if not ids:
            return {"exact_match": None, "f1": None, "n": 0}
        return {"exact_match": round(100 * sum(em_f1[i][0] for i in ids) / len(ids), 2),
                "f1": round(100 * sum(em_f1[i][1] for i in ids) / len(ids), 2), "n": len(ids)}

    everything = mean([e.id for e in examples])
    report = {"exact_match": everything["exact_match"], "f1": everything["f1"], "n": everything["n"]}
    unanswerable = [e.id for e in examples if not e.answerable]
    if unanswerable:
        report["HasAns"] = mean([e.id for e in examples if e.answerable])
        report["NoAns"] = mean(unanswerable)
    return report
