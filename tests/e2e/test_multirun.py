"""Real multiruns of the whole pipeline (ftpipe.experiments.multirun): every job a `dvc repro`; its config is in
unit/test_multirun_app.py."""
from __future__ import annotations

import sys

import pytest

from tests.helpers.project import run

TINY = ["data.max_rows=200", "mlflow.log_model=false", "train.epochs=1"]


@pytest.mark.slow
def test_2x2_multirun_nests_4_children_under_one_parent_and_tokenizes_once(project, tiny_model_dir):
    from mlflow.tracking import MlflowClient

    sweep_dir = project / "multirun" / "t"
    result = run([sys.executable, "-m", "ftpipe.experiments.multirun", "-m", "train.lr=1e-4,3e-4", "seed=1,2", *TINY,
                  f"model.name_or_path={tiny_model_dir}", f"hydra.sweep.dir={sweep_dir}"], project)
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")   # the workspace's store, not the sweep dir
    parents = client.search_runs([e.experiment_id for e in client.search_experiments()], "tags.`sweep.role` = 'parent'")
    assert len(parents) == 1, result.stderr[-3000:]
    parent = parents[0]
    kids = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(kids) == 4 and all(k.info.status == "FINISHED" for k in kids)
    assert sorted((k.data.params["train.lr"], k.data.params["seed"]) for k in kids) == [
        ("0.0001", "1"), ("0.0001", "2"), ("0.0003", "1"), ("0.0003", "2")]
    assert all("val/best_macro_f1" in k.data.metrics and "test/accuracy" in k.data.metrics for k in kids)
    assert parent.data.tags.get("sweep.best_run_id") in {k.info.run_id for k in kids}
    # clean/augment/tokenize depend on the seed, not on train.lr: they ran in the first job of each seed
    # (jobs 0 and 1) and jobs 2 and 3, which differ from those only in train.lr, restored them from DVC's run cache
    logs = [p.read_text() for p in sorted(sweep_dir.glob("*/repro.log"))]
    assert len(logs) == 4
    assert ["Running stage 'tokenize'" in text for text in logs] == [True, True, False, False], logs[2][-2000:]
    assert all("Running stage 'train'" in text for text in logs)
    assert not (project / "data" / "tokenized").exists()                 # the workspace was not touched


@pytest.mark.slow
def test_failing_job_is_recorded_failed_and_the_sweep_goes_on(project, tiny_model_dir):
    from mlflow.tracking import MlflowClient

    sweep_dir = project / "multirun" / "f"
    run([sys.executable, "-m", "ftpipe.experiments.multirun", "-m", "train.lr=1e-4,-1", "seed=1", *TINY,
         f"model.name_or_path={tiny_model_dir}", f"hydra.sweep.dir={sweep_dir}"], project)
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    parent = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                "tags.`sweep.role` = 'parent'")[0]
    kids = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(k.info.status for k in kids) == ["FAILED", "FINISHED"]
    (failed,) = [k for k in kids if k.info.status == "FAILED"]
    assert "train.lr: must be a positive number" in failed.data.tags["sweep.error"]


LAUNCHER_ARGS = {"joblib": ["hydra.launcher.n_jobs=2"], "submitit_local": ["hydra.launcher.timeout_min=15"],
                 "ray": ["hydra.launcher.ray.init.num_cpus=2"]}   # ray: a local instance (conf/hydra/launcher/ray.yaml)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", list(LAUNCHER_ARGS))
def test_two_jobs_run_through_a_parallel_launcher(project, tiny_model_dir, launcher):
    from mlflow.tracking import MlflowClient

    result = run([sys.executable, "-m", "ftpipe.experiments.multirun", "-m", "train.lr=1e-4,3e-4", "seed=1", *TINY,
                  f"model.name_or_path={tiny_model_dir}", f"hydra.sweep.dir={project / 'multirun' / launcher}",
                  f"hydra/launcher={launcher}", *LAUNCHER_ARGS[launcher]], project)
    if launcher == "ray":
        assert "Ray Launcher is launching 2 jobs" in result.stdout + result.stderr
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    exps = [e.experiment_id for e in client.search_experiments()]
    (parent,) = client.search_runs(exps, "tags.`sweep.role` = 'parent'")
    kids = client.search_runs(exps, f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(k.data.params["train.lr"] for k in kids) == ["0.0001", "0.0003"]
    assert all(k.info.status == "FINISHED" for k in kids)
