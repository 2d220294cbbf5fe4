"""Classification metrics (scikit-learn) and the plots a saved model carries (matplotlib)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support)


def classification_report(y_true: list[int], y_pred: list[int], classes: list[str]) -> dict:
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for c, p, r, f, s in zip(classes, precision, recall, f1, support)},
        "classes": classes,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def format_report(report: dict) -> str:
    lines = [f"accuracy {report['accuracy']:.2%}  balanced accuracy {report['balanced_accuracy']:.2%}  "
             f"macro-F1 {report['macro_f1']:.4f}  (n={report['n']})"]
    width = max(len(c) for c in report["classes"])
    lines.append(f"{'class':<{width}}  precision  recall  support")
    for c, m in report["per_class"].items():
        lines.append(f"{c:<{width}}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['support']:7d}")
    lines.append("confusion matrix (rows: true, columns: predicted):")
    lines += ["  " + " ".join(f"{v:5d}" for v in row) for row in report["confusion_matrix"]]
    return "\n".join(lines)


def _figure(**kwargs):
    """A figure that never touches pyplot, so the caller's matplotlib backend is left alone."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def save_figure(fig, path: Path, dpi: int = 100) -> None:
    """Lay out and write ``fig``; characters the installed fonts lack (class names in Chinese, Arabic, ...) become one
    note in the run's output instead of a matplotlib warning per glyph."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
    missing = [w for w in caught if "Glyph" in str(w.message) and "missing" in str(w.message)]
    for w in caught:
        if w not in missing:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:
        from graft.progress import log

        log(f"note: {path.name} shows some labels as boxes: no installed font has their characters "
            "(install one that does, e.g. Debian's fonts-noto-cjk)")


def plot_curves(history: list[dict], path: Path, monitor: str = "val_accuracy", val_n: int | None = None) -> None:
    """Loss (train and validation) and the monitored validation metric, by epoch across all phases."""
    fig = _figure(figsize=(10, 4))
    ax_loss, ax_metric = fig.subplots(1, 2)
    step = np.arange(1, len(history) + 1)
    ax_loss.plot(step, [h["train_loss"] for h in history], marker="o", label="train loss")
    if history and "val_loss" in history[0]:
        ax_loss.plot(step, [h["val_loss"] for h in history], marker="o", label="val loss")
    if history and monitor in history[0]:
        ax_metric.plot(step, [h[monitor] for h in history], marker="o", label=monitor.replace("_", " "), color="C2")
        ax_metric.set_ylim(0, 1)
        ax_metric.legend()
    for i in range(1, len(history)):
        if history[i]["phase"] != history[i - 1]["phase"]:
            for ax in (ax_loss, ax_metric):
                ax.axvline(i + 0.5, color="grey", linestyle=":")
    for ax in (ax_loss, ax_metric):
        ax.set_xlabel("epoch (all phases)")
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax_loss.set_title("loss (training and validation splits)")
    ax_metric.set_title(f"validation split{f' (n={val_n})' if val_n else ''}: {monitor.removeprefix('val_')}")
    ax_loss.legend()
    save_figure(fig, path)


def plot_confusion(report: dict, path: Path) -> None:
    matrix = np.array(report["confusion_matrix"])
    classes = report["classes"]
    size = max(4, 0.6 * len(classes) + 2)
    fig = _figure(figsize=(size, size))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > matrix.max() / 2 else "black")
    ax.set_title(f"validation (n={report['n']}): accuracy {report['accuracy']:.2%}")
    save_figure(fig, path)
