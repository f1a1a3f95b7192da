"""Optuna over whole pipelines (ftpipe.experiments.optuna_search): trials are child runs; a stopped study resumes."""
from __future__ import annotations

import sys

import pytest
import yaml
from conftest import ROOT, run

TINY = ["data.max_rows=200", "mlflow.log_model=false"]


def test_rt_optuna_space_is_the_seed_documents_space():
    from ftpipe.experiments.optuna_search import load_space

    space = load_space("rt_optuna")
    assert space["direction"] == "maximize" and space["objective"] == "val_macro_f1"
    assert space["params"]["train.lr"] == {"type": "float", "low": 1e-6, "high": 1e-4, "log": True}
    assert space["params"]["train.epochs"] == {"type": "int", "low": 1, "high": 5}
    assert space["params"]["train.batch_size"]["choices"] == [8, 16, 32]
    assert space["storage"].startswith("sqlite:///")


def test_suggest_gives_overrides_hydra_accepts():
    import optuna

    from ftpipe.config.compose import compose_config
    from ftpipe.experiments.optuna_search import load_space, suggest

    trial = optuna.create_study(direction="maximize").ask()
    overrides = suggest(trial, load_space("rt_optuna"))
    cfg = compose_config(overrides)
    assert 1e-6 <= cfg.train.lr <= 1e-4 and 1 <= cfg.train.epochs <= 5 and cfg.train.batch_size in (8, 16, 32)


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
    assert sorted(k.data.metrics["best_val_macro_f1"] for k in kids) == sorted(t.value for t in study.trials)
