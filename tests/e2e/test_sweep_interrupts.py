"""Stopped sweeps leave no MLflow run RUNNING: real sqlite stores, real `dvc exp run` jobs, real signals.

Ctrl-C and SIGTERM end a multirun's parent KILLED and stop its job; runs that a SIGKILL left RUNNING are closed
by the next sweep that starts. The pieces (closing dead runs, a job never outliving its driver) are in
integration/test_job_processes.py; resuming a killed sweep is in e2e/test_sweep.py.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.processes import gone, wait_for
from tests.helpers.project import run, stage_env

TINY = ["data.max_rows=200", "mlflow.log_model=false", "seed=1"]
ENDLESS = ["train.epochs=1000", "train.early_stopping.patience=1000"]   # a job still training when signalled


def client_of(store: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{store}")


def start_multirun(project: Path, model: Path, log: Path, *overrides: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ftpipe.experiments.sweep", "-m", *TINY, f"model.name_or_path={model}", *overrides]
    return subprocess.Popen(cmd, cwd=project, env=stage_env(), stdout=log.open("w"), stderr=subprocess.STDOUT)


def parent_id_in(log: Path) -> str | None:
    # logged once the parent exists, so the store is fully created before the test opens it
    found = re.search(r"MLflow parent run ([0-9a-f]{32})", log.read_text())
    return found and found[1]


def running_child(client, parent_id: str):
    kids = client.search_runs([client.get_run(parent_id).info.experiment_id],
                              f"tags.mlflow.parentRunId = '{parent_id}' and attributes.status = 'RUNNING'")
    return kids[0] if kids else None


def test_sigterm_right_after_start_ends_the_multirun_killed(project, tiny_model_dir, tmp_path):
    log = tmp_path / "term.log"
    driver = start_multirun(project, tiny_model_dir, log, "train.lr=1e-4,3e-4", *ENDLESS)
    parent_id = wait_for("a parent run", lambda: parent_id_in(log), driver, log)
    driver.send_signal(signal.SIGTERM)
    assert driver.wait(timeout=120) == 130, log.read_text()[-3000:]
    parent = client_of(project / "mlflow.db").get_run(parent_id)
    assert parent.info.status == "KILLED" and parent.data.tags["error"] == "interrupted (SIGTERM)"
    assert "error: interrupted" in log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "ray"])
def test_ctrl_c_during_training_ends_the_runs_and_stops_the_training(project, tiny_model_dir, tmp_path, launcher):
    log = tmp_path / "int.log"
    driver = start_multirun(project, tiny_model_dir, log, "train.lr=1e-4,3e-4", *ENDLESS, f"hydra/launcher={launcher}")
    parent_id = wait_for("a parent run", lambda: parent_id_in(log), driver, log)
    client = client_of(project / "mlflow.db")
    wait_for("a training run", lambda: running_child(client, parent_id), driver, log)
    driver.send_signal(signal.SIGINT)   # to the driver alone: it must pass the news on
    assert driver.wait(timeout=120) == 130, log.read_text()[-3000:]
    parent = client.get_run(parent_id)
    assert parent.info.status == "KILLED" and parent.data.tags["error"] == "interrupted (SIGINT)"
    kids = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    for kid in kids:
        # KILLED by the driver, or FAILED by train itself on the SIGINT its job got (the driver forwards it;
        # under Ray, whose workers die with the driver, job_guard sends it)
        assert kid.info.status in ("FAILED", "KILLED") and "interrupted" in kid.data.tags["error"]
        pid = int(kid.data.tags["ftpipe.pid"])
        wait_for("the training to stop", lambda pid=pid: gone(pid), timeout=60)
    assert all(client.get_run(k.info.run_id).info.status != "RUNNING" for k in kids)
    if launcher == "basic":   # jobs one after another: the sweep stopped in the first
        assert len(kids) == 1


@pytest.mark.slow
def test_runs_of_a_sigkilled_multirun_are_closed_when_the_next_one_starts(project, tiny_model_dir, tmp_path):
    from ftpipe.tracking.owner import PID_TAG, owner_gone

    log = tmp_path / "kill.log"
    driver = start_multirun(project, tiny_model_dir, log, "train.lr=1e-4", *ENDLESS)
    parent_id = wait_for("a parent run", lambda: parent_id_in(log), driver, log)
    client = client_of(project / "mlflow.db")
    child = wait_for("a training run", lambda: running_child(client, parent_id), driver, log)
    # everything dies at once, as in an OOM kill or a reboot: the driver and its job's process group (before
    # job_guard, which polls every second, can see the driver gone and stop the job politely)
    driver.kill()
    os.killpg(os.getpgid(int(child.data.tags[PID_TAG])), signal.SIGKILL)
    driver.wait()
    wait_for("the training to die", lambda: owner_gone(child.data.tags), timeout=30)
    assert {client.get_run(r).info.status for r in (parent_id, child.info.run_id)} == {"RUNNING"}

    run([sys.executable, "-m", "ftpipe.experiments.sweep", "-m", *TINY, f"model.name_or_path={tiny_model_dir}",
         "train.lr=1e-4", "train.epochs=1", "sweep.target=train"], project)
    for run_id in (parent_id, child.info.run_id):
        old = client.get_run(run_id)
        assert old.info.status == "KILLED", run_id
        assert "was killed without ending the run; closed by a later sweep" in old.data.tags["error"]
    newest = client.search_runs([old.info.experiment_id], "tags.`sweep.role` = 'parent'",
                                order_by=["attributes.start_time DESC"])[0]
    assert newest.info.run_id != parent_id and newest.info.status == "FINISHED"
