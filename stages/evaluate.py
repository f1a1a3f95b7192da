"""evaluate: score the fine-tuned model on the test split.

Writes `metrics/metrics.json` (accuracy, macro-F1, per-class precision/recall/F1, ECE), the
confusion matrix and reliability diagram (PNG + DVC plot data), and the most confidently wrong
test examples; logs everything to the model's MLflow run.
"""
from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from stages.core import plots
from stages.core.batching import load_tokenized
from stages.core.config import load_params
from stages.core.errors import run_stage
from stages.core.evaluation import classification_metrics, predict_probs, test_metrics
from stages.core.io import atomic_path, read_json, write_csv, write_json
from stages.core.logs import get_logger
from stages.core.modeling import load_classifier, load_tokenizer
from stages.core.tracking import resume_run

MODEL_DIR, TEST_IDS, TEST_TEXT = "models/finetuned", "data/tokenized/test.parquet", "data/clean/test.parquet"
METRICS, REPORTS = "metrics/metrics.json", "reports/evaluate"
log = get_logger("evaluate")


def calibration(labels: np.ndarray, probs: np.ndarray, bins: int) -> tuple[float, pd.DataFrame]:
    """Expected calibration error and the per-bin table behind the reliability diagram."""
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
    p, r, f, n = precision_recall_fscore_support(labels, preds, labels=range(len(names)), zero_division=0)
    return {name: {"precision": round(float(p[i]), 6), "recall": round(float(r[i]), 6),
                   "f1": round(float(f[i]), 6), "support": int(n[i])} for i, name in enumerate(names)}


def main() -> None:
    cfg = load_params()
    names = read_json(f"{MODEL_DIR}/labels.json")["names"]
    tokenizer = load_tokenizer(MODEL_DIR)
    model = load_classifier(MODEL_DIR, names)
    ids, labels = load_tokenized(TEST_IDS)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    probs = predict_probs(model.to(device), ids, cfg.train.eval_batch_size, device, tokenizer.pad_token_id)
    preds = probs.argmax(axis=1)
    ece, bins = calibration(labels, probs, cfg.evaluate.calibration_bins)
    report = {**classification_metrics(labels, probs), "ece": ece, "per_class": per_class(labels, preds, names)}
    write_json(METRICS, report)

    texts = pd.read_parquet(TEST_TEXT)
    matrix = confusion_matrix(labels, preds, labels=range(len(names)))
    write_csv("plots/confusion.csv", pd.DataFrame({"actual": [names[i] for i in labels],
                                                   "predicted": [names[i] for i in preds]}))
    write_csv("plots/reliability.csv", bins)
    wrong = np.flatnonzero(preds != labels)
    worst = wrong[np.argsort(-probs[wrong, preds[wrong]], kind="stable")][:cfg.evaluate.worst_examples]
    with atomic_path(REPORTS, is_dir=True) as reports:  # the report directory appears whole or not at all
        write_csv(reports / "misclassified.csv", pd.DataFrame({
            "source_row": texts["source_row"].to_numpy()[worst], "text": texts["text"].to_numpy()[worst],
            "actual": [names[labels[i]] for i in worst], "predicted": [names[preds[i]] for i in worst],
            "confidence": probs[worst, preds[worst]].round(4)}))
        plots.confusion(matrix, names, reports / "confusion.png")
        plots.reliability(bins["confidence"].to_numpy(), bins["accuracy"].to_numpy(), bins["count"].to_numpy(),
                          ece, reports / "reliability.png")

    with resume_run(cfg):
        mlflow.log_metrics(test_metrics(report))
        mlflow.log_artifact(METRICS, "evaluate")
        mlflow.log_artifacts(REPORTS, "evaluate")
    log.info("test accuracy %.4f, macro-F1 %.4f, ECE %.4f on %d texts", report["accuracy"], report["macro_f1"],
             ece, len(labels))


if __name__ == "__main__":
    run_stage(main)
