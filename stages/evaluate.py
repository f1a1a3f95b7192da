"""evaluate: score the fine-tuned model on the test split.

Writes `metrics/metrics.json` (accuracy, macro-F1, per-class precision/recall/F1, ECE), the
confusion matrix and reliability diagram (PNG + DVC plot data), and the most confidently wrong
test examples; logs everything to the model's MLflow run.
"""
from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix

from ftpipe.config.params import load_params
from ftpipe.evaluation import plots
from ftpipe.evaluation.metrics import calibration, classification_metrics, confidently_wrong, per_class
from ftpipe.evaluation.predict import predict_probs
from ftpipe.infra import lineage
from ftpipe.infra.io import read_json, write_csv, write_json
from ftpipe.infra.logs import get_logger
from ftpipe.infra.publish import publish
from ftpipe.infra.stage import run_stage
from ftpipe.tracking import keys
from ftpipe.tracking.identity import dvc_lock, log_datasets, set_note
from ftpipe.tracking.runs import resume_run
from ftpipe.training.batching import load_tokenized
from ftpipe.training.models import load_classifier, load_tokenizer

MODEL_DIR, TEST_IDS, TEST_TEXT = "models/finetuned", "data/tokenized/test", "data/clean/test.parquet"
METRICS, REPORTS = "metrics/metrics.json", "reports/evaluate"
HEADLINE = "metrics/headline/evaluate.json"  # what `dvc metrics show` and `dvc exp show` compare
log = get_logger("evaluate")


def main() -> None:
    cfg = load_params()
    lineage.check([Path(MODEL_DIR), Path(TEST_IDS).parent, Path(TEST_TEXT).parent])  # all from one run
    names = read_json(f"{MODEL_DIR}/labels.json")["names"]
    tokenizer = load_tokenizer(MODEL_DIR)
    model = load_classifier(MODEL_DIR, names)
    ids, labels = load_tokenized(TEST_IDS)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    probs = predict_probs(model.to(device), ids, cfg.train.eval_batch_size, device, tokenizer.pad_token_id)
    preds = probs.argmax(axis=1)
    ece, bins = calibration(labels, probs, cfg.evaluate.calibration_bins)
    report = {**classification_metrics(labels, probs), "ece": ece, "per_class": per_class(labels, preds, names)}
    texts = pd.read_parquet(TEST_TEXT)
    worst = confidently_wrong(labels, probs, cfg.evaluate.worst_examples)
    with publish() as out:  # the metrics, plot data and report appear together
        write_json(out.file(METRICS), report)
        write_json(out.file(HEADLINE), {k: report[k] for k in ("accuracy", "macro_f1", "ece")})
        write_csv(out.file("plots/confusion.csv"), pd.DataFrame({"actual": [names[i] for i in labels],
                                                                 "predicted": [names[i] for i in preds]}))
        write_csv(out.file("plots/reliability.csv"), bins)
        reports = out.dir(REPORTS)
        write_csv(reports / "misclassified.csv", pd.DataFrame({
            "source_row": texts["source_row"].to_numpy()[worst], "text": texts["text"].to_numpy()[worst],
            "actual": [names[labels[i]] for i in worst], "predicted": [names[preds[i]] for i in worst],
            "confidence": probs[worst, preds[worst]].round(4)}))
        plots.confusion(confusion_matrix(labels, preds, labels=range(len(names))), names, reports / "confusion.png")
        plots.reliability(bins["confidence"].to_numpy(), bins["accuracy"].to_numpy(), bins["count"].to_numpy(),
                          ece, reports / "reliability.png")

    with resume_run(cfg):
        mlflow.log_metrics(keys.test(report))
        log_datasets(cfg, {"test": Path(TEST_TEXT)})
        mlflow.log_dict(dvc_lock(["clean", "augment", "tokenize", "train"]), "dvc/upstream_lock.json")
        set_note({"Test": f"accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}, ECE {ece:.4f} "
                          f"on {len(labels):,} test texts"})
        mlflow.log_artifact(METRICS, "evaluate")
        mlflow.log_artifacts(REPORTS, "evaluate")
    log.info("test accuracy %.4f, macro-F1 %.4f, ECE %.4f on %d texts", report["accuracy"], report["macro_f1"],
             ece, len(labels))


if __name__ == "__main__":
    run_stage(main)
