"""Prediction and the metrics shared by validation (in `train`) and the test report (`evaluate`)."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score

from .batching import collate, inference_batches


@torch.inference_mode()
def predict_probs(model, ids: list[list[int]], batch_size: int, device: torch.device, pad_id: int,
                  autocast_dtype: torch.dtype | None = None) -> np.ndarray:
    """Class probabilities for every example, in input order."""
    was_training = model.training
    model.eval()
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    probs = np.zeros((len(ids), model.config.num_labels), dtype=np.float32)
    for index in inference_batches(lengths, batch_size):
        batch = {k: v.to(device) for k, v in collate(ids, index, pad_id).items()}
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            logits = model(**batch).logits
        probs[index] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    model.train(was_training)
    return probs


def classification_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Accuracy, macro-F1 and mean cross-entropy, rounded so equal runs print equal files."""
    preds = probs.argmax(axis=1)
    nll = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean()
    return {"loss": round(float(nll), 6), "accuracy": round(float(accuracy_score(labels, preds)), 6),
            "macro_f1": round(float(f1_score(labels, preds, average="macro", zero_division=0)), 6)}


def test_metrics(report: dict) -> dict[str, float]:
    """A test report (metrics/metrics.json) as MLflow metrics: `test_<metric>` and `test_<class>_<metric>`."""
    values = {f"test_{k}": v for k, v in report.items() if isinstance(v, float)}
    return values | {f"test_{c}_{k}": v for c, m in report.get("per_class", {}).items() for k, v in m.items()}
