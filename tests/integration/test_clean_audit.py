"""The clean stage's label audit: reports/audit/suspects.csv and metrics/audit.json beside the splits, suspects
dropped from train (and counted) only when data.drop_suspected_label_errors is true, degenerate data handled."""
from __future__ import annotations

import json

import pandas as pd

from tests.helpers.data import noisy_sentiment_rows, sentiment_rows
from tests.helpers.inputs import assert_clean_fails, clean_files, csv_bytes

ROWS, FLIPPED = noisy_sentiment_rows(per_class=100, flips=10)


def test_clean_writes_the_audit_and_keeps_train_whole_by_default(tmp_path):
    report = clean_files(tmp_path, {"t.csv": csv_bytes(ROWS)})
    audit = json.loads((tmp_path / "metrics/audit.json").read_text())
    suspects = pd.read_csv(tmp_path / "reports/audit/suspects.csv")
    assert audit["suspected"] == len(suspects) > 0 and audit["rows_audited"] == report["rows_train"] == 160
    assert list(suspects.columns) == ["rank", "source_row", "text", "given_label", "suggested_label",
                                      "self_confidence", "prob_suggested"]
    assert len(set(suspects["text"]) & FLIPPED) >= 5  # the flips that landed in train are found
    assert report["dropped_suspected_label_errors"] == 0


def test_dropping_suspects_shrinks_train_by_the_counted_number(tmp_path):
    kept = clean_files(tmp_path / "keep", {"t.csv": csv_bytes(ROWS)})
    dropped = clean_files(tmp_path / "drop", {"t.csv": csv_bytes(ROWS)}, "data.drop_suspected_label_errors=true")
    audit = json.loads((tmp_path / "drop/metrics/audit.json").read_text())
    assert dropped["dropped_suspected_label_errors"] == audit["suspected"] > 0
    assert dropped["rows_train"] == kept["rows_train"] - audit["suspected"]
    assert (dropped["rows_validation"], dropped["rows_test"]) == (kept["rows_validation"], kept["rows_test"])
    train = pd.read_parquet(tmp_path / "drop/data/clean/train.parquet")
    suspects = pd.read_csv(tmp_path / "drop/reports/audit/suspects.csv")
    assert not train["source_row"].isin(suspects["source_row"]).any()


def test_a_class_too_small_for_the_folds_skips_the_audit_or_refuses_to_drop(tmp_path):
    rows = sentiment_rows(30) + [{"text": f"a plain ordinary film number {i}", "label": "neu"} for i in range(10)]
    clean_files(tmp_path / "keep", {"t.csv": csv_bytes(rows)}, "data.audit.folds=10")  # neu: 8 train rows
    audit = json.loads((tmp_path / "keep/metrics/audit.json").read_text())
    assert "class 'neu' has 8 train rows" in audit["skipped"] and audit["suspected"] == 0
    assert_clean_fails(tmp_path / "drop", {"t.csv": csv_bytes(rows)},
                       ["data.drop_suspected_label_errors", "data.audit.folds (10)"],
                       "data.audit.folds=10", "data.drop_suspected_label_errors=true")
