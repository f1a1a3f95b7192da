"""The label audit (ftpipe.data.audit): planted label flips rank first, degenerate inputs are skipped with a
reason (or refused when suspects were to be dropped), a large train split is sampled, and its keys are checked."""
from __future__ import annotations

import pandas as pd
import pytest
from omegaconf import OmegaConf

from ftpipe.config.schema import check_section
from ftpipe.data.audit import audit_train, drop_suspects
from ftpipe.infra.errors import PipelineError
from tests.helpers.config import data_cfg
from tests.helpers.data import noisy_sentiment_rows, sentiment_rows

NAMES = ["neg", "pos"]


def settings(**changes):
    return OmegaConf.create({"enabled": True, "folds": 5, "top": 100, "max_rows": None, **changes})


def train_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows).assign(source_row=lambda d: range(1, len(d) + 1))


def test_planted_label_flips_rank_at_the_top():
    rows, flipped = noisy_sentiment_rows(per_class=100, flips=10)
    audit = audit_train(train_frame(rows), NAMES, settings(), seed=0)
    top = audit.suspects.head(20)
    assert audit.skipped is None and audit.rows_audited == 200
    assert len(set(top["text"]) & flipped) >= 8, top
    found = audit.suspects[audit.suspects["text"].isin(flipped)]
    assert (found["suggested_label"] != found["given_label"]).all()
    report = audit.report(NAMES)
    assert report["suspected"] == len(audit.suspects) and report["folds"] == 5
    assert report["method"].startswith("cleanlab ") and set(report["suspected_share_per_class"]) == set(NAMES)


def test_suspects_are_dropped_from_train_and_counted():
    rows, flipped = noisy_sentiment_rows(per_class=100, flips=10)
    train = train_frame(rows)
    audit = audit_train(train, NAMES, settings(), seed=0)
    kept, dropped = drop_suspects(train, audit)
    assert dropped == len(audit.suspects) > 0 and len(kept) == len(train) - dropped


@pytest.mark.parametrize("rows, reason", [
    (sentiment_rows(20) + [{"text": "rare one", "label": "neu"}, {"text": "rare two", "label": "neu"}],
     "class 'neu' has 2 train rows, fewer than data.audit.folds (5)"),
    (sentiment_rows(20, ("pos",)), "fewer than two classes"),
])
def test_degenerate_train_splits_skip_the_audit_with_a_reason_and_refuse_to_drop(rows, reason):
    train = train_frame(rows)
    names = sorted(set(train["label"]))
    audit = audit_train(train, names, settings(), seed=0)
    assert reason in audit.skipped and audit.suspects.empty
    assert audit.report(names)["rows_not_audited"] == len(train) and audit.report(names)["suspected"] == 0
    with pytest.raises(PipelineError, match="data.drop_suspected_label_errors") as raised:
        drop_suspects(train, audit)
    assert "\n" not in str(raised.value)


def test_tiny_data_without_a_repeated_ngram_is_skipped_not_crashed():
    train = train_frame([{"text": t, "label": lab} for t, lab in
                         zip(["ab", "cd", "ef", "gh", "ij", "kl", "mn", "op", "qr", "st"], ["x", "y"] * 5)])
    audit = audit_train(train, ["x", "y"], settings(folds=2), seed=0)
    assert audit.skipped and "baseline cannot be fitted" in audit.skipped


def test_a_large_train_split_is_audited_on_a_stratified_sample():
    rows, _ = noisy_sentiment_rows(per_class=100, flips=0)
    audit = audit_train(train_frame(rows), NAMES, settings(max_rows=50), seed=0)
    assert (audit.rows_audited, audit.rows_not_audited) == (50, 150)
    assert audit.rows_per_class == {"neg": 25, "pos": 25}


def test_a_disabled_audit_reports_so():
    audit = audit_train(train_frame(sentiment_rows(20)), NAMES, settings(enabled=False), seed=0)
    assert audit.skipped == "data.audit.enabled is false" and audit.report(NAMES)["suspected"] == 0


@pytest.mark.parametrize("overrides, expected", [
    (["data.drop_suspected_label_errors=true", "data.audit.enabled=false"], "data.drop_suspected_label_errors:"),
    (["data.audit.folds=1"], "data.audit.folds: must be an integer >= 2"),
    (["data.audit.max_rows=5"], "data.audit.max_rows:"),
    (["data.drop_suspected_label_errors=yes"], "data.drop_suspected_label_errors: expected true or false"),
])
def test_audit_keys_are_checked(overrides, expected):
    with pytest.raises(PipelineError, match=expected):
        check_section("data", data_cfg(*overrides))
