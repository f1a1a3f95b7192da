"""Metrics shared by validation (in `train`), the test report (`evaluate`) and the compressed variants (`compress`).

Every function takes the true labels first. Nothing heavy is imported at the top (no torch, sklearn or pandas):
the compression scorer imports this module in a fresh process whose peak memory it measures.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def prediction_metrics(labels: np.ndarray, preds: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 of predicted class ids."""
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(labels, preds)),
            "macro_f1": float(f1_score(labels, preds, average="macro", zero_division=0))}


def classification_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Mean cross-entropy, accuracy and macro-F1 of class probabilities, rounded so equal runs print equal files."""
    nll = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean()
    scores = prediction_metrics(labels, probs.argmax(axis=1))
    return {"loss": round(float(nll), 6), **{k: round(v, 6) for k, v in scores.items()}}


def calibration(labels: np.ndarray, probs: np.ndarray, bins: int) -> tuple[float, pd.DataFrame]:
    """Expected calibration error and the per-bin table behind the reliability diagram."""
    import pandas as pd

    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        rows.append({"bin": b, "confidence": float(confidence[inside].mean()) if inside.any() else (b + 0.5) / bins,
                     "accuracy": float(correct[inside].mean()) if inside.any() else 0.0, "count": int(inside.sum())})
    table = pd.DataFrame(rows)
    ece = float((table["count"] * (table["confidence"] - table["accuracy"]).abs()).sum() / len(labels))
    return round(ece, 6), table


def per_class(labels: np.ndarray, preds: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of every class, by name."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, n = precision_recall_fscore_support(labels, preds, labels=range(len(names)), zero_division=0)
    return {name: {"precision": round(float(p[i]), 6), "recall": round(float(r[i]), 6),
                   "f1": round(float(f[i]), 6), "support": int(n[i])} for i, name in enumerate(names)}


def confidently_wrong(labels: np.ndarray, probs: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` wrong predictions made with the highest confidence, most confident first."""
    preds = probs.argmax(axis=1)
    wrong = np.flatnonzero(preds != labels)
    return wrong[np.argsort(-probs[wrong, preds[wrong]], kind="stable")][:k]
