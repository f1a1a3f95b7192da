"""The sweep front door's parts without training: its Hydra app, names that resume, the Optuna search space, the
trial a training reports to, the seed-noise verdict, and stages restored from DVC's cache."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ftpipe import ROOT
from ftpipe.infra.errors import PipelineError


def app(*overrides: str):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return compose("sweep", overrides=["sweep.name=t", *overrides], return_hydra_config=True)


def test_the_app_config_is_the_pipeline_config_plus_the_sweep_and_its_callback():
    from ftpipe.config.compose import compose_config
    from ftpipe.experiments.settings import SweepSettings, pipeline_cfg

    config = app("train.lr=3e-5", "seed=7")
    assert config.hydra.callbacks.ftpipe_sweep._target_ == "ftpipe.experiments.sweep.SweepCallback"
    assert pipeline_cfg(config) == compose_config(["train.lr=3e-5", "seed=7"])   # what `make params` writes
    assert SweepSettings.from_cfg(config).metric == "val/best_macro_f1"          # validation ranks, never test
    assert config.hydra.sweep.dir == "multirun/t"


def test_presets_choose_the_sweeper_and_its_space():
    grid = app("hparams_search=lr_seeds")
    assert dict(grid.hydra.sweeper.params) == {"train.lr": "2e-5,5e-5,1e-4", "seed": "1,2,3"}
    optuna = app("hparams_search=rt_optuna")
    assert optuna.hydra.sweeper._target_ == "hydra_plugins.ftpipe_optuna_sweeper.OptunaSweeper"
    pruner = optuna.hydra.sweeper.pruner
    assert (pruner.name, pruner.min_resource, pruner.reduction_factor) == ("successive_halving", 1, 3)
    assert (optuna.train.epochs, optuna.train.evals_per_epoch, optuna.train.early_stopping.patience) == (4, 2, 4)
    assert "train.lr" in optuna.hydra.sweeper.params
    long = app("hparams_search=long_recipe")
    assert long.sweep.metric == "val/best_macro_f1"  # ranked on validation
    assert long.hydra.sweeper.pruner.name == "none"  # the recipes that win late are what it looks for
    from ftpipe.experiments.search import parse_space

    fixed, space = parse_space([f"{k}={v}" for k, v in long.hydra.sweeper.params.items()])
    assert fixed == [] and sorted(space) == sorted(long.hydra.sweeper.params)
    assert (space["train.epochs"].low, space["train.epochs"].high) == (3, 5)


@pytest.mark.parametrize("key, value, message", [("sweep.mode", "up", "sweep.mode"),
                                                 ("sweep.target", "deploy", "sweep.target"),
                                                 ("sweep.name", "a b", "sweep.name")])
def test_sweep_settings_are_checked_in_one_place(key, value, message):
    from ftpipe.experiments.settings import SweepSettings

    config = OmegaConf.create({"sweep": {"name": "s", "resume": True, "metric": "val/best_macro_f1", "mode": "max",
                                         "target": "train", "trial_id": None}})
    OmegaConf.update(config, key, value)
    with pytest.raises(PipelineError, match=message):
        SweepSettings.from_cfg(config)


def test_the_same_command_gets_the_same_name_whatever_the_launcher():
    from ftpipe.experiments.settings import derived_name, job_overrides

    a = derived_name(["-m", "train.lr=1e-5,3e-5", "seed=1,2"])
    assert a == derived_name(["seed=1,2", "train.lr=1e-5,3e-5", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    assert a != derived_name(["train.lr=1e-5,3e-5", "seed=1,2,3"])
    assert derived_name(["hparams_search=rt_optuna"]).startswith("rt_optuna-")
    assert job_overrides(["train.lr=1e-5", "sweep.trial_id=3", "+sweep.x=1", "seed=2"]) == ["train.lr=1e-5", "seed=2"]


def test_search_spaces_in_hydra_syntax_become_optuna_distributions():
    import optuna.distributions as d

    from ftpipe.experiments.search import parse_space

    fixed, space = parse_space(["train.lr=tag(log, interval(1e-6, 1e-4))", "train.batch_size=choice(8,16,32)",
                                "train.epochs=range(1,5)", "train.warmup_ratio=interval(0, 0.2)",
                                "data.max_rows=200", "augment=none,synonym"])
    assert fixed == ["data.max_rows=200"]
    assert space["train.lr"] == d.FloatDistribution(1e-6, 1e-4, log=True)
    assert space["train.batch_size"] == d.CategoricalDistribution([8, 16, 32])
    assert space["train.epochs"] == d.IntDistribution(1, 4)          # range() keeps Python's bounds
    assert space["train.warmup_ratio"] == d.FloatDistribution(0.0, 0.2)
    assert space["augment"] == d.CategoricalDistribution(["none", "synonym"])
    with pytest.raises(PipelineError, match="search space"):
        parse_space(["train.lr=interval(1e-6"])


def test_trials_a_killed_sweep_left_running_are_failed_and_asked_again(tmp_path):
    import optuna

    from ftpipe.experiments.search import ended, retry_interrupted

    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}", direction="maximize")
    done = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(done, 0.5)
    left = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})   # its sweep died: still RUNNING
    assert retry_interrupted(study) == 1
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "FAIL", "WAITING"] and ended(study) == 1   # the interrupted one does not count
    again = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    assert again.params == left.params


def test_a_training_reports_its_epochs_and_is_pruned_below_the_median(tmp_path, monkeypatch):
    import optuna

    from ftpipe.tracking.trial import TRIAL_ENV, Pruned, build_pruner, report

    storage, pruner = f"sqlite:///{tmp_path / 'o.db'}", {"name": "median", "n_startup_trials": 1}
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize", pruner=build_pruner(pruner))
    good = study.ask()
    good.report(0.8, 1)
    study.tell(good, 0.8)
    weak = study.ask()
    monkeypatch.setenv(TRIAL_ENV, json.dumps({"storage": storage, "study": "s", "trial_id": weak._trial_id,
                                              "column": "val_macro_f1", "pruner": pruner}))
    report({"epoch": 1, "val_macro_f1": 0.3}, step=1, last=True)   # a last validation is reported, never pruned
    with pytest.raises(Pruned, match="pruned by the sweep's median pruner at epoch 1"):
        report({"epoch": 1, "val_macro_f1": 0.3}, step=1)
    assert study.trials[1].intermediate_values == {1: 0.3}
    # validating twice an epoch: the half-way row is the trial's step 1, judged against the others' step 1
    half = study.ask()
    monkeypatch.setenv(TRIAL_ENV, json.dumps({"storage": storage, "study": "s", "trial_id": half._trial_id,
                                              "column": "val_macro_f1", "pruner": pruner}))
    with pytest.raises(Pruned, match=r"at epoch 0\.507 \("):  # the half-way row of 67 steps, said briefly
        report({"epoch": 34 / 67, "val_macro_f1": 0.2}, step=1)
    assert study.trials[2].intermediate_values == {1: 0.2}
    monkeypatch.delenv(TRIAL_ENV)
    report({"epoch": 2, "val_macro_f1": 0.1}, step=2)   # outside an Optuna sweep: nothing to report to


def test_the_seed_noise_verdict_uses_a_welch_interval():
    from ftpipe.experiments.ranking import group_over_seeds, seed_gap

    def frame(a: list[float], b: list[float]) -> pd.DataFrame:
        rows = [{"status": "FINISHED", "param:train.lr": lr, "param:seed": str(i), "metric:m": v}
                for lr, values in (("1e-4", a), ("3e-4", b)) for i, v in enumerate(values)]
        return pd.DataFrame(rows)

    clear = frame([0.80, 0.81, 0.82], [0.70, 0.71, 0.72])
    groups = group_over_seeds(clear, ["train.lr", "seed"], ["m"], "m", "max")
    assert seed_gap(clear, groups, ["train.lr", "seed"], "m", "max").startswith("The best setting beats the runner-up")
    noisy = frame([0.80, 0.70, 0.75], [0.74, 0.76, 0.72])
    groups = group_over_seeds(noisy, ["train.lr", "seed"], ["m"], "m", "max")
    assert "within seed noise" in seed_gap(noisy, groups, ["train.lr", "seed"], "m", "max")
    single = frame([0.8], [0.7])
    groups = group_over_seeds(single, ["train.lr", "seed"], ["m"], "m", "max")
    assert "add seeds" in seed_gap(single, groups, ["train.lr", "seed"], "m", "max")


def test_the_welch_interval_matches_scipys_unequal_variance_t_test():
    from scipy import stats

    from ftpipe.experiments.ranking import welch_interval

    a, b = np.array([0.84, 0.83, 0.845]), np.array([0.825, 0.82, 0.81, 0.83])
    diff, (low, high) = welch_interval(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(a.mean() - b.mean())
    assert (low, high) == pytest.approx((ci.low, ci.high))
    diff, interval = welch_interval(np.array([0.8, 0.8]), np.array([0.7, 0.7]))  # no spread: a point
    assert interval == pytest.approx((diff, diff)) and diff == pytest.approx(0.1)


def test_stages_restored_from_dvcs_cache_still_reach_the_jobs_run(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from ftpipe.experiments import job

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp_id = client.create_experiment("e")
    parent = client.get_run(client.create_run(exp_id).info.run_id)
    files = {"params.yaml": {"seed": 1, "train": {"lr": 1e-4}},
             "metrics/train.json": {"val_macro_f1": 0.7, "seconds": 3.0},
             "metrics/metrics.json": {"accuracy": 0.83, "macro_f1": 0.82, "per_class": {"fresh": {"f1": 0.8}}}}
    monkeypatch.setattr(job, "experiment_files", lambda exp, paths: files)
    trained = client.create_run(exp_id, tags={"mlflow.parentRunId": parent.info.run_id})
    client.log_metric(trained.info.run_id, "val/best_macro_f1", 0.7)   # train ran and logged; evaluate was restored
    run_id = job.complete_run(client, parent, client.get_run(trained.info.run_id), "s-00", "evaluate")
    got = client.get_run(run_id)
    assert run_id == trained.info.run_id and got.data.metrics["test/accuracy"] == 0.83
    assert got.data.tags[job.RESTORED_TAG].startswith("evaluate restored") and got.info.status == "FINISHED"
    # train restored too: no run at all yet, so one is made from the experiment's params and metrics
    made = client.get_run(job.complete_run(client, parent, None, "s-01", "evaluate"))
    assert made.info.run_name == "s-01" and made.data.params["train.lr"] == "0.0001"
    assert made.data.metrics["val/best_macro_f1"] == 0.7 and "train, evaluate restored" in made.data.tags[
        job.RESTORED_TAG]
