"""evaluate: score the fine-tuned model on the test split, beside a TF-IDF + logistic-regression baseline.

Writes `metrics/metrics.json` (accuracy and macro-F1 with bootstrap 95 % intervals, per-class
precision/recall/F1, ECE with and without the model's temperature, the baseline's figures), the
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
from ftpipe.evaluation.baseline import fit_predict
from ftpipe.evaluation.metrics import confidently_wrong
from ftpipe.evaluation.predict import predict_logits
from ftpipe.evaluation.scoring import baseline_warning, split_report
from ftpipe.infra import lineage
from ftpipe.infra.io import read_json, write_csv, write_json
from ftpipe.infra.logs import get_logger
from ftpipe.infra.publish import publish
from ftpipe.infra.stage import run_stage
from ftpipe.tracking import keys
from ftpipe.tracking.identity import dvc_lock, log_datasets, set_note
from ftpipe.tracking.runs import resume_run
from ftpipe.training.batching import load_tokenized
from ftpipe.training.models import load_classifier, load_tokenizer, read_temperature

MODEL_DIR, TEST_IDS, TEST_TEXT = "models/finetuned", "data/tokenized/test", "data/clean/test.parquet"
TRAIN_TEXT = "data/clean/train.parquet"  # the baseline's training rows: the same split the model learnt from
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
    logits = predict_logits(model.to(device), ids, cfg.train.eval_batch_size, device, tokenizer.pad_token_id)
    texts = pd.read_parquet(TEST_TEXT)
    baseline = baseline_probs(cfg, texts, len(names)) if cfg.evaluate.baseline.enabled else None
    report, probs, bins = split_report(labels, logits, read_temperature(MODEL_DIR), names, cfg.evaluate, cfg.seed,
                                      baseline)
    preds, ece = probs.argmax(axis=1), report["ece"]
    worst = confidently_wrong(labels, probs, cfg.evaluate.worst_examples)
    with publish() as out:  # the metrics, plot data and report appear together
        write_json(out.file(METRICS), report)
        write_json(out.file(HEADLINE), {k: report[k] for k in ("accuracy", "macro_f1", "ece")}
                   | ({"baseline_f1": report["baseline"]["macro_f1"]} if "baseline" in report else {}))
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

    log_run(cfg, report, summary(report, len(labels)))
    warning = baseline_warning(report, cfg.evaluate.baseline.min_margin)
    if warning:
        log.warning(warning)


def baseline_probs(cfg, test: pd.DataFrame, n_classes: int):
    """The TF-IDF baseline's test probabilities, fitted on the clean train split (seconds)."""
    train = pd.read_parquet(TRAIN_TEXT, columns=["text", "label"])
    log.info("baseline: TF-IDF + logistic regression on %d train texts", len(train))
    return fit_predict(train["text"].astype(str), train["label"].to_numpy(), test["text"].astype(str), n_classes)


def summary(report: dict, n: int) -> str:
    """One line a person reads: the figures with their intervals, calibration, and the baseline."""
    ci = report.get("ci95", {})
    span = {k: f" [{ci[k][0]:.4f}, {ci[k][1]:.4f}]" if k in ci else "" for k in ("accuracy", "macro_f1")}
    base = report.get("baseline")
    return (f"accuracy {report['accuracy']:.4f}{span['accuracy']}, macro-F1 {report['macro_f1']:.4f}"
            f"{span['macro_f1']} (95 % bootstrap), ECE {report['ece']:.4f} (T={report['temperature']:g}; "
            f"{report['ece_uncalibrated']:.4f} without) on {n:,} test texts"
            + (f"; TF-IDF baseline accuracy {base['accuracy']:.4f}, macro-F1 {base['macro_f1']:.4f}" if base else ""))


def log_run(cfg, report: dict, line: str) -> None:
    with resume_run(cfg):
        mlflow.log_metrics(keys.test(report))
        log_datasets(cfg, {"test": Path(TEST_TEXT)})
        mlflow.log_dict(dvc_lock(["clean", "augment", "tokenize", "train"]), "dvc/upstream_lock.json")
        set_note({"Test": line})
        mlflow.log_artifact(METRICS, "evaluate")
        mlflow.log_artifacts(REPORTS, "evaluate")
    log.info("test %s", line)


if __name__ == "__main__":
    run_stage(main)
