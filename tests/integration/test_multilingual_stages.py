"""The clean, augment and tokenize commands on the shipped Chinese sample with conftest's tiny zh BERT."""
from __future__ import annotations

import json

import pandas as pd

from tests.helpers.project import compose_params, run_stage


def test_clean_and_tokenize_stages_run_on_chinese(project, zh_model_dir):
    """The fast check of the real stage processes on the Chinese sample (the full DAG is the slow test)."""
    compose_params(project, "data=chinese_reviews", f"model.name_or_path={zh_model_dir}")
    for stage in ("clean", "augment", "tokenize"):
        run_stage(stage, project)
    clean = json.loads((project / "metrics/clean.json").read_text())
    assert clean["rows_kept"] == 400 and clean["dropped_empty_or_junk"] == 2
    test = pd.read_parquet(project / "data/clean/test.parquet")
    assert test["text"].str.contains("[\u4e00-\u9fff]").all()
