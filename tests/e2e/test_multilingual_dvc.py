"""`dvc repro` of the whole DAG on the shipped Chinese sample with conftest's tiny zh BERT."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.helpers.project import STAGES, compose_params, run


@pytest.mark.slow
def test_chinese_reviews_pass_every_dvc_stage(project, zh_model_dir):
    """`dvc repro` of the whole DAG on the shipped Chinese sample with the tiny multilingual BERT.

    Full fine-tuning: its weights are random, so LoRA on a frozen random encoder would learn nothing. The random
    encoder needs a few epochs before validation F1 moves, so early stopping waits them out."""
    compose_params(project, "data=chinese_reviews", f"model.name_or_path={zh_model_dir}", "model.max_length=64",
                   "train.epochs=6", "train.batch_size=16", "train.lr=1e-3",
                   "train.early_stopping.patience=6", "compress.latency.repeats=5",
                   "compress.distill.layers=1")
    output = run(["dvc", "repro"], project).stdout
    assert [s for s in STAGES if f"Running stage '{s}'" in output] == STAGES
    labels = json.loads((project / "data/clean/labels.json").read_text())["names"]
    assert labels == ["好评", "差评"]
    tokenized = json.loads((project / "metrics/tokenize.json").read_text())
    assert 8 < tokenized["train"]["mean"] < 40                          # about one token per hanzi
    metrics = json.loads((project / "metrics/metrics.json").read_text())
    assert set(metrics["per_class"]) == {"好评", "差评"} and metrics["accuracy"] > 0.6
    worst = pd.read_csv(project / "reports/evaluate/misclassified.csv")
    assert worst.empty or worst["text"].str.contains("[\u4e00-\u9fff]").all()
    assert "torch_int8" in json.loads((project / "metrics/compression.json").read_text())["variants"]
