"""Optuna over whole pipelines: trials are child runs; a stopped study resumes (real jobs, each a `dvc repro`)."""
from __future__ import annotations

import sys

import pytest
import yaml

from ftpipe import ROOT
from tests.helpers.project import run

TINY = ["data.max_rows=200", "mlflow.log_model=false"]


@pytest.mark.slow
def test_two_trials_in_two_invocations_resume_one_study(project, tiny_model_dir):
    import optuna
    from mlflow.tracking import MlflowClient

    space = yaml.safe_load((ROOT / "conf/hparams_search/rt_optuna.yaml").read_text())
    space["params"]["train.epochs"] = {"type": "int", "low": 1, "high": 1}   # keep the test short
    (project / "space.yaml").write_text(yaml.safe_dump(space))
    for _ in range(2):   # the second call loads the study the first one stored, as after a stop
        run([sys.executable, "-m", "ftpipe.experiments.optuna_search", "space.yaml", "--trials", "1", *TINY,
             f"model.name_or_path={tiny_model_dir}"], project)
    study = optuna.load_study(study_name="rt_optuna", storage=f"sqlite:///{project / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert 0.0 <= study.best_value <= 1.0
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    exps = [e.experiment_id for e in client.search_experiments()]
    parents = client.search_runs(exps, "tags.`optuna.study` = 'rt_optuna'")
    assert len(parents) == 2
    kids = client.search_runs(exps, "tags.mlflow.parentRunId != ''")
    kids = [k for k in kids if k.data.tags.get("mlflow.parentRunId") in {p.info.run_id for p in parents}]
    assert len(kids) == 2 and all(k.info.status == "FINISHED" for k in kids)
    assert all({"train.lr", "train.batch_size"} <= set(k.data.params) for k in kids)
    assert sorted(k.data.metrics["val/best_macro_f1"] for k in kids) == sorted(t.value for t in study.trials)
