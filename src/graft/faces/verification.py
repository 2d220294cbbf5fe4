"""Distances, the calibrated "same person" threshold, and verification / identification figures.

Rule of acceptance everywhere: two faces are the same person when their distance is **below** the threshold.
"""
from __future__ import annotations

import numpy as np


def pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between every row of ``a`` and every row of ``b``."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(d2, 0, None))


def gallery_pairs(embeddings: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) distances over every pair of distinct photos."""
    labels = np.asarray(labels)
    d = pairwise(embeddings, embeddings)
    upper = np.triu(np.ones_like(d, dtype=bool), k=1)
    same = labels[:, None] == labels[None, :]
    return d[upper & same], d[upper & ~same]


def calibrate(genuine: np.ndarray, impostor: np.ndarray, far: float, published: float) -> dict:
    """The threshold for false-accept rate ``far``, and how it was chosen.

    With ``n`` impostor distances sorted ascending and ``k = floor(far * n)``:

    * ``n >= 1 / far`` ("empirical"): the midpoint between the k-th and (k+1)-th smallest impostor distance,
      so exactly ``k`` impostor pairs are accepted (measured FAR ``k / n <= far``);
    * fewer impostor pairs ("published, capped"): the data cannot show a rate that small, so the model's
      published threshold is used, lowered to the closest impostor distance where one comes nearer;
    * no impostor pairs (one person): the published threshold.
    """
    impostor = np.sort(np.asarray(impostor, dtype=np.float64))
    genuine = np.asarray(genuine, dtype=np.float64)
    n = len(impostor)
    if n and n >= 1 / far:
        k = int(np.floor(far * n + 1e-9))  # >= 1 since n >= 1 / far
        threshold = float((impostor[k - 1] + impostor[k]) / 2) if k < n else float(impostor[-1])
        method = f"empirical: {k} of {n} impostor pairs accepted"
    elif n:
        threshold = float(min(published, impostor[0]))
        method = (f"published threshold {published} capped at the closest impostor distance: {n} impostor pairs "
                  f"are too few to measure a false-accept rate of {far:g} (needs >= {int(np.ceil(1 / far))})")
    else:
        threshold = float(published)
        method = f"published threshold {published}: no impostor pairs (one person enrolled)"
    return {"threshold": round(threshold, 6), "far_target": far, "method": method,
            "genuine_pairs": int(len(genuine)), "impostor_pairs": int(n),
            "far_measured": float((impostor < threshold).mean()) if n else None,
            "tar_measured": float((genuine < threshold).mean()) if len(genuine) else None}


def verification_report(distances: np.ndarray, same: np.ndarray, threshold: float, far: float = 1e-3) -> dict:
    """Accuracy at ``threshold``, ROC-AUC, TAR at ``far``, EER (scikit-learn's ROC on -distance)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    distances, same = np.asarray(distances, np.float64), np.asarray(same, bool)
    report = {"pairs": int(len(same)), "genuine_pairs": int(same.sum()), "impostor_pairs": int((~same).sum()),
              "threshold": threshold, "accuracy": float(((distances < threshold) == same).mean())}
    if same.all() or not same.any():
        return report | {"note": "ROC figures need both genuine and impostor pairs"}
    fpr, tpr, _ = roc_curve(same, -distances)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return report | {"roc_auc": float(roc_auc_score(same, -distances)),
                     f"tar_at_far_{far:g}": float(tpr[fpr <= far].max()) if (fpr <= far).any() else 0.0,
                     "eer": float((fpr[i] + fnr[i]) / 2),
                     "tar": float((distances[same] < threshold).mean()),
                     "far": float((distances[~same] < threshold).mean())}
