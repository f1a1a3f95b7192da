"""The sweep front door on a tiny model, end to end: real Hydra multirun, DVC experiments, MLflow, Optuna."""
from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.helpers.processes import wait_for
from tests.helpers.project import run
from tests.helpers.sweeps import TINY, children, job_logs, parents, start_sweep, sweep

GRID = ["train.lr=1e-4,3e-4", "seed=1,2", *TINY, "sweep.target=train"]


def test_a_killed_grid_resumes_without_retraining_finished_jobs(project, tiny_model_dir, tmp_path):
    args = [*GRID, f"model.name_or_path={tiny_model_dir}"]
    log = tmp_path / "first.log"
    proc = start_sweep(project, log, *args)
    # SIGKILL once the third job has started: no chance to clean up, as when a machine's session dies
    wait_for("job 3", lambda: list(project.glob("multirun/*/2/dvc.log")), proc, log, timeout=400)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (parent,) = parents(project)
    first = {k.info.run_name: k.info.run_id for k in children(project, parent) if k.info.status == "FINISHED"}
    assert len(first) == 2, log.read_text()[-3000:]
    wait_for("the killed job to stop", lambda: not any("dvc" in p for p in _procs(project)), timeout=60)

    result = sweep(project, *args)   # the same command again
    (again,) = parents(project)
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    kids = children(project, again)
    latest = {k.info.run_name: k for k in kids}   # oldest first: the last of each name is its latest attempt
    assert sorted(latest) == [f"{again.data.tags['sweep.name']}-{n:02d}" for n in range(4)]
    assert all(k.info.status == "FINISHED" for k in latest.values())
    assert {n: latest[n].info.run_id for n in first} == first                    # reused, not retrained
    assert sum("reused, not retrained" in line for line in result.stderr.splitlines()) == 2
    assert sorted((k.data.params["train.lr"], k.data.params["seed"]) for k in latest.values()) == [
        ("0.0001", "1"), ("0.0001", "2"), ("0.0003", "1"), ("0.0003", "2")]
    # the data side does not depend on the training seed or lr: cleaned and tokenized once, by the first job
    logs = job_logs(project)
    assert sum("Running stage 'tokenize'" in text for text in logs) == 1, logs
    assert sum("Running stage 'train'" in text for text in logs) >= 4
    # every job is a DVC experiment
    shown = run(["dvc", "exp", "show", "--json"], project).stdout
    assert all(name in shown for name in latest)
    # ranked on validation, with the seed-noise verdict and the MLflow compare link
    summary = (project / "reports" / "sweeps" / again.data.tags["sweep.name"] / "summary.md").read_text()
    assert "ranked by `val/best_macro_f1`" in summary and "compare-runs" in summary
    assert "Welch 95 % interval" in summary
    best = max(latest.values(), key=lambda k: k.data.metrics["val/best_macro_f1"])
    assert again.data.tags["sweep.best_run_id"] == best.info.run_id


def _procs(project) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    return [line for line in out if str(project) in line or ".dvc/tmp/exps" in line]


def test_optuna_prunes_a_hopeless_learning_rate(project, tiny_model_dir):
    # validation loss moves with every step, so "worse than the median" is strict. Trial 0 (lr 1e-3, queued first)
    # runs its 3 epochs; trial 1 (lr 1e-9, queued second) cannot move off its initial loss, and the median pruner
    # stops it after epoch 1
    result = sweep(project, "hydra/sweeper=optuna", "hydra.sweeper.n_trials=2",
                   "hydra.sweeper.pruner.n_startup_trials=1",
                   "hydra.sweeper.enqueue=[{train.lr:1e-3},{train.lr:1e-9}]", "train.lr=choice(1e-3,1e-9)",
                   "sweep.metric=val/best_loss", "sweep.mode=min", "data.max_rows=200", "mlflow.log_model=false",
                   "train.epochs=3", "sweep.target=train", f"model.name_or_path={tiny_model_dir}")
    (parent,) = parents(project)
    kids = children(project, parent)
    states = [(k.data.params["train.lr"], k.data.tags.get("sweep.state")) for k in kids]
    assert states == [("0.001", "COMPLETE"), ("1e-09", "PRUNED")], (states, result.stderr[-3000:])
    pruned = kids[1]
    assert pruned.info.status == "KILLED"
    assert "pruned by the sweep's median pruner at epoch 1" in pruned.data.tags["error"]
    import optuna

    name = parent.data.tags["sweep.name"]
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{project / 'multirun' / name / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "PRUNED"]
    assert parent.data.tags["sweep.best_run_id"] == kids[0].info.run_id
    summary = (project / "reports" / "sweeps" / name / "summary.md").read_text()
    assert "1 job(s) pruned" in summary and "| PRUNED |" in summary


LAUNCHER_ARGS = {"joblib": ["hydra.launcher.n_jobs=2"], "submitit_local": ["hydra.launcher.timeout_min=15"],
                 "ray": ["hydra.launcher.ray.init.num_cpus=2"]}   # ray: a local instance (conf/hydra/launcher/ray.yaml)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", list(LAUNCHER_ARGS))
def test_two_jobs_run_through_a_parallel_launcher(project, tiny_model_dir, launcher):
    sweep(project, "train.lr=1e-4,3e-4", "seed=1", *TINY, "sweep.target=train", f"model.name_or_path={tiny_model_dir}",
          f"hydra/launcher={launcher}", *LAUNCHER_ARGS[launcher])
    (parent,) = parents(project)
    kids = children(project, parent)
    assert sorted(k.data.params["train.lr"] for k in kids) == ["0.0001", "0.0003"]
    assert all(k.info.status == "FINISHED" for k in kids)


@pytest.mark.slow
def test_a_failing_job_ends_failed_and_the_sweep_goes_on(project, tiny_model_dir):
    result = sweep(project, "train.lr=1e-4,-1", "seed=1", *TINY, "sweep.target=train",
                   f"model.name_or_path={tiny_model_dir}")
    (parent,) = parents(project)
    kids = children(project, parent)
    assert sorted(k.info.status for k in kids) == ["FAILED", "FINISHED"], result.stderr[-3000:]
    (failed,) = [k for k in kids if k.info.status == "FAILED"]
    assert "train.lr: must be a positive number" in failed.data.tags["sweep.error"]
    assert failed.data.tags["sweep.state"] == "FAILED" and parent.info.status == "FINISHED"
