"""The test report: accuracy, macro-F1 and loss with bootstrap intervals, calibration with and without the model's
temperature, per-class figures, and the TF-IDF baseline scored beside them as the floor to beat."""
from __future__ import annotations

from typing import Any

import numpy as np

from ftpipe.evaluation.metrics import bootstrap_ci, calibration, classification_metrics, per_class, softmax

BASELINE = "tfidf_logreg"  # ftpipe/evaluation/baseline.py


def split_report(labels: np.ndarray, logits: np.ndarray, temperature: float, names: list[str], settings: Any,
                seed: int, baseline_probs: np.ndarray | None = None) -> tuple[dict[str, Any], np.ndarray, Any]:
    """(metrics/metrics.json, the calibrated probabilities, the reliability table). `settings` is cfg.evaluate."""
    probs = softmax(logits, temperature)
    preds = probs.argmax(axis=1)
    ece, bins = calibration(labels, probs, settings.calibration_bins)
    report = {**classification_metrics(labels, probs), "ece": ece, "temperature": temperature,
              "ece_uncalibrated": calibration(labels, softmax(logits), settings.calibration_bins)[0],
              **_intervals(labels, preds, settings, seed), "per_class": per_class(labels, preds, names)}
    if baseline_probs is not None:
        base = classification_metrics(labels, baseline_probs)
        report["baseline"] = {"model": BASELINE, **base,
                              **_intervals(labels, baseline_probs.argmax(axis=1), settings, seed),
                              "margin_accuracy": round(report["accuracy"] - base["accuracy"], 6),
                              "margin_macro_f1": round(report["macro_f1"] - base["macro_f1"], 6)}
    return report, probs, bins


def _intervals(labels: np.ndarray, preds: np.ndarray, settings: Any, seed: int) -> dict[str, Any]:
    if not settings.bootstrap_samples:
        return {}
    return {"ci95": bootstrap_ci(labels, preds, int(settings.bootstrap_samples), seed)}


def baseline_warning(report: dict[str, Any], min_margin: float) -> str | None:
    """One line when the fine-tuned model does not clear the baseline's macro-F1 by `min_margin`, else None."""
    base = report.get("baseline")
    if base is None or base["margin_macro_f1"] >= min_margin:
        return None
    return (f"the fine-tuned model's test macro-F1 {report['macro_f1']:.4f} beats the TF-IDF + logistic-regression "
            f"baseline's {base['macro_f1']:.4f} by {100 * base['margin_macro_f1']:+.2f} pt, less than "
            f"evaluate.baseline.min_margin ({100 * min_margin:.2f} pt): more data, epochs or a larger model may "
            "help, or the task may not need a transformer")
