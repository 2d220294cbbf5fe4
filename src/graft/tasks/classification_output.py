"""Classification results as graft returns and prints them, built from plain probabilities (numpy, no torch):
the PyTorch path and the quick ONNX path (``graft.deploy.quick``) give the same records and the same lines."""
from __future__ import annotations

import numpy as np


def ranked_predictions(items: list, probabilities, classes: list[str], top_k: int = 1) -> list[dict]:
    """Per input: its top class, score, and the ``top_k`` (class, probability) pairs, best first (ties: the
    earlier class)."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    k = max(1, min(top_k, len(classes)))
    out = []
    for item, row in zip(items, probabilities):
        best = np.argsort(-row, kind="stable")[:k]
        out.append({"input": str(item), "label": classes[int(best[0])], "score": float(row[best[0]]),
                    "top_k": [{"label": classes[int(j)], "score": float(row[j])} for j in best]})
    return out


def format_predictions(results: list[dict]) -> str:
    lines = []
    for r in results:
        alternatives = "  ".join(f"{t['label']} {t['score']:.3f}" for t in r["top_k"][1:])
        lines.append(f"{r['input'][:80]}\t{r['label']}\t{r['score']:.3f}{('  ' + alternatives) if alternatives else ''}")
    return "\n".join(lines)
