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


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities of logits divided by `temperature` (1.0: unchanged), computed stably."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def fit_temperature(labels: np.ndarray, logits: np.ndarray) -> float:
    """The temperature T > 0 that minimises the mean cross-entropy of softmax(logits / T): temperature scaling
    (Guo et al., 2017). One scalar, so it cannot overfit a validation split, and it never changes a prediction."""
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        return float(-np.log(np.clip(softmax(logits, float(np.exp(log_t)))[rows, labels], 1e-300, None)).mean())

    best = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4})
    return round(float(np.exp(best.x)), 4)


def temperature_report(labels: np.ndarray, logits: np.ndarray, enabled: bool, bins: int = 10) -> dict[str, float]:
    """The temperature to ship (fitted on these validation logits, or 1.0 when scaling is off) and the
    validation ECE without and with it."""
    temperature = fit_temperature(labels, logits) if enabled else 1.0
    return {"temperature": temperature, "val_ece_uncalibrated": calibration(labels, softmax(logits), bins)[0],
            "val_ece": calibration(labels, softmax(logits, temperature), bins)[0]}


def bootstrap_ci(labels: np.ndarray, preds: np.ndarray, samples: int, seed: int, level: float = 0.95
                 ) -> dict[str, list[float]]:
    """Percentile bootstrap intervals of accuracy and macro-F1: the test rows resampled with replacement."""
    labels, preds = np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    k = int(max(labels.max(), preds.max())) + 1
    draws = np.random.default_rng(seed).integers(0, len(labels), size=(samples, len(labels)))
    # every resample's confusion matrix at once: cell (true, predicted), offset by the resample's row
    codes = (labels[draws] * k + preds[draws]) + (np.arange(samples) * k * k)[:, None]
    confusion = np.bincount(codes.ravel(), minlength=samples * k * k).reshape(samples, k, k)
    tp = np.diagonal(confusion, axis1=1, axis2=2)
    true, predicted = confusion.sum(axis=2), confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(true + predicted > 0, 2 * tp / (true + predicted), np.nan)
    # as scikit-learn's macro average: over the classes present in a resample's labels or predictions
    return {"accuracy": _interval(tp.sum(axis=1) / len(labels), level),
            "macro_f1": _interval(np.nanmean(f1, axis=1), level)}


def paired_delta_ci(correct: np.ndarray, reference_correct: np.ndarray, samples: int, seed: int,
                    level: float = 0.95) -> list[float]:
    """Interval of the accuracy difference (a variant minus the reference) on the same texts, resampled in pairs:
    a text both get right or both get wrong adds no noise, so this is far tighter than two separate intervals."""
    diff = np.asarray(correct, dtype=np.float64) - np.asarray(reference_correct, dtype=np.float64)
    draws = np.random.default_rng(seed).integers(0, len(diff), size=(samples, len(diff)))
    return _interval(diff[draws].mean(axis=1), level)


def _interval(values: np.ndarray, level: float) -> list[float]:
    tail = 100 * (1 - level) / 2
    return [round(float(np.percentile(values, tail)), 6), round(float(np.percentile(values, 100 - tail)), 6)]
