"""MLflow metric keys: grouped by prefix, valid for MLflow whatever the labels, and never two figures on one key."""
from __future__ import annotations

import pytest
from mlflow.utils.validation import _validate_metric_name

from ftpipe.tracking import keys

REPORT = {"accuracy": 0.8, "macro_f1": 0.79, "ece": 0.05, "loss": 0.4,
          "per_class": {"neg": {"f1": 0.8, "support": 10}, "pos": {"f1": 0.78, "support": 12}}}
TRAIN = {"best_epoch": 2, "epochs_run": 2, "stopped_early": False, "val_loss": 0.3, "val_accuracy": 0.84,
         "val_macro_f1": 0.83, "method": "full", "trainable_share": 1.0, "seconds": 591.0}
VARIANTS = {"fp32": {"accuracy": 0.82, "delta_accuracy": 0.0, "latency_p50_ms_b1": 9.0, "latency_p95_ms_b1": 11.0,
                     "size_mb": 87.0, "macro_f1": 0.81},
            "onnx_int8": {"accuracy": 0.83, "delta_accuracy": 0.01, "latency_p50_ms_b1": 3.0,
                          "latency_p95_ms_b1": 4.0, "size_mb": 22.0, "macro_f1": 0.82}}


def test_headline_figures_have_their_keys_and_groups():
    logged = keys.test(REPORT) | keys.summary(TRAIN) | keys.compression(VARIANTS, "onnx_int8") | keys.epoch(
        {"epoch": 1, "train_loss": 0.5, "val_loss": 0.4, "val_accuracy": 0.8, "val_macro_f1": 0.79})
    assert set(keys.HEADLINE) <= set(logged)
    assert logged["shipped/latency_p50_ms_b1"] == 3.0 and logged["compress/fp32/latency_p50_ms_b1"] == 9.0
    assert logged["test/class/pos/f1"] == 0.78 and logged["val/best_macro_f1"] == 0.83
    assert logged["val/macro_f1"] == 0.79 and logged["train/loss"] == 0.5 and logged["train/seconds"] == 591.0
    assert keys.RANK.startswith("val/")  # sweeps rank on validation, never on test
    assert {k.split("/")[0] for k in logged} == {"test", "val", "train", "compress", "shipped"}
    assert "train/stopped_early" not in logged and "train/method" not in logged  # flags and names are not figures


@pytest.mark.parametrize("labels", [["c++", "c__", "5★"], ["a/b", "..", "."], ["正面", "负面", ""], ["x:y", "x y"]])
def test_hostile_labels_give_valid_distinct_keys(labels):
    report = {"accuracy": 0.5, "per_class": {name: {"f1": i / 10} for i, name in enumerate(labels)}}
    logged = keys.test(report)
    assert len(logged) == len(labels) + 1  # no label's figure overwrote another's
    for key in logged:
        _validate_metric_name(key)  # what MLflow checks before logging; raises on a bad key
    assert sorted(v for k, v in logged.items() if k.startswith("test/class/")) == [i / 10 for i in range(len(labels))]


def test_stage_reports_nest_and_stay_distinct():
    logged = keys.stage("clean", {"rows_kept": 5, "rows_per_label.c++": 3, "rows_per_label.c__": 4, "ok": True})
    assert logged["data/clean/rows_kept"] == 5 and len(logged) == 3
    for key in logged:
        _validate_metric_name(key)
