"""Stopped sweeps leave no MLflow run RUNNING: real sqlite stores, real subprocesses, real signals.

Ctrl-C and SIGTERM end a multirun's parent KILLED and stop its job; runs that a SIGKILL left RUNNING are closed
by the next sweep that starts.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import run, stage_env

TINY = ["data.max_rows=200", "mlflow.log_model=false", "seed=1"]
ENDLESS = ["train.epochs=1000", "train.early_stopping.patience=1000"]   # a job still training when signalled


def client_of(store: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{store}")


def wait_for(what: str, probe, proc: subprocess.Popen | None = None, log: Path | None = None,
             timeout: float = 240):
    """probe()'s first truthy value, polled (while `proc` runs, if given)."""
    def tail() -> str:
        return log.read_text()[-4000:] if log and log.is_file() else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"exited {proc.returncode} before {what}:\n{tail()}")
        time.sleep(0.5)
    pytest.fail(f"no {what} after {timeout} s:\n{tail()}")


def start_multirun(project: Path, model: Path, log: Path, *overrides: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ftpipe.experiments.multirun", "-m", *TINY, f"model.name_or_path={model}",
           f"hydra.sweep.dir={project / 'multirun' / log.stem}", *overrides]
    return subprocess.Popen(cmd, cwd=project, env=stage_env(), stdout=log.open("w"), stderr=subprocess.STDOUT)


def parent_id_in(log: Path) -> str | None:
    # logged once the parent exists, so the store is fully created before the test opens it
    found = re.search(r"MLflow parent run ([0-9a-f]{32})", log.read_text())
    return found and found[1]


def running_child(client, parent_id: str):
    kids = client.search_runs([client.get_run(parent_id).info.experiment_id],
                              f"tags.mlflow.parentRunId = '{parent_id}' and attributes.status = 'RUNNING'")
    return kids[0] if kids else None


def test_close_dead_runs_ends_only_runs_whose_process_is_gone(tmp_path):
    from ftpipe.tracking.owner import HOST_TAG, PID_TAG, close_dead_runs, owner_tags

    client = client_of(tmp_path / "mlflow.db")
    exp = client.create_experiment("x")
    gone = subprocess.Popen(["true"])
    gone.wait()   # its pid is now free
    dead = client.create_run(exp, tags={**owner_tags(), PID_TAG: str(gone.pid)}).info.run_id
    alive = client.create_run(exp, tags=owner_tags()).info.run_id                      # this process
    elsewhere = client.create_run(exp, tags={HOST_TAG: "another-host", PID_TAG: str(gone.pid)}).info.run_id
    untagged = client.create_run(exp).info.run_id                                       # older runs: no owner

    assert close_dead_runs(client) == [dead]
    assert client.get_run(dead).info.status == "KILLED"
    assert f"pid {gone.pid}" in client.get_run(dead).data.tags["error"]
    assert {client.get_run(r).info.status for r in (alive, elsewhere, untagged)} == {"RUNNING"}


@pytest.mark.parametrize("exc, status, reason", [
    (KeyboardInterrupt("SIGTERM"), "KILLED", "interrupted (SIGTERM)"),
    (KeyboardInterrupt(), "KILLED", "interrupted (SIGINT)"),
    (RuntimeError("disk full"), "FAILED", "RuntimeError: disk full"),
])
def test_a_stopped_sweep_ends_its_parent_and_running_children(tmp_path, monkeypatch, exc, status, reason):
    from ftpipe.experiments.grid import SweepSpec
    from ftpipe.experiments.interrupts import aborting_parent_on_error
    from ftpipe.experiments.runner import open_parent

    monkeypatch.chdir(tmp_path)   # the report goes to ./reports/sweeps/
    client = client_of(tmp_path / "mlflow.db")
    exp = client.create_experiment("x")
    spec = SweepSpec(params={"train.lr": "1e-4,3e-4"})
    parent = open_parent(client, exp, "stopped", spec, 2, ["train.lr"])
    running = client.create_run(exp, tags={"mlflow.parentRunId": parent}).info.run_id
    done = client.create_run(exp, tags={"mlflow.parentRunId": parent}).info.run_id
    client.log_metric(done, "best_val_macro_f1", 0.5)
    client.set_terminated(done, "FINISHED")
    with pytest.raises(type(exc)), aborting_parent_on_error(client, parent, spec):
        raise exc
    assert (client.get_run(parent).info.status, client.get_run(parent).data.tags["error"]) == (status, reason)
    assert client.get_run(running).info.status == "KILLED"
    assert client.get_run(running).data.tags["error"] == f"its sweep stopped: {reason}"
    assert client.get_run(done).info.status == "FINISHED"
    assert "1 job(s) did not finish" in (tmp_path / "reports/sweeps/stopped/summary.md").read_text()


def gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("sig, sigint_blocked, driver_rc", [
    (signal.SIGTERM, False, 130),   # the driver forwards SIGINT to the job's group
    (signal.SIGKILL, False, -9),    # job_guard sees its driver vanish and stops the job itself
    (signal.SIGKILL, True, -9),     # the same from a driver with SIGINT blocked, as in a Ray worker
], ids=["sigterm", "sigkill", "sigkill-ray-like"])
def test_a_job_never_outlives_its_driver(tmp_path, sig, sigint_blocked, driver_rc):
    job = textwrap.dedent(f"""
        import subprocess, sys, time
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(tmp_path / 'grandchild.pid')!r}, "w").write(str(grandchild.pid))
        try:
            time.sleep(600)
        except KeyboardInterrupt:
            open({str(tmp_path / 'job.got')!r}, "w").write("SIGINT")
    """)
    driver = textwrap.dedent(f"""
        import signal, sys
        from ftpipe.infra.errors import interrupt_on_sigterm
        from ftpipe.experiments.interrupts import run_job_process
        interrupt_on_sigterm()
        if {sigint_blocked}:
            signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGINT}})
        try:
            run_job_process([sys.executable, "-c", {job!r}], grace_s=5)
        except KeyboardInterrupt:
            sys.exit(130)
    """)
    proc = subprocess.Popen([sys.executable, "-c", driver], cwd=Path(__file__).resolve().parents[1])
    pid_file = tmp_path / "grandchild.pid"
    wait_for("the job's child", pid_file.is_file, proc)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == driver_rc
    wait_for("the job to get SIGINT", (tmp_path / "job.got").is_file, timeout=30)
    # the whole group got SIGINT: the job's sleeping child too
    wait_for("the job's child to end", lambda: gone(int(pid_file.read_text())), timeout=30)


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

    run([sys.executable, "-m", "ftpipe.experiments.multirun", "-m", *TINY, f"model.name_or_path={tiny_model_dir}",
         "train.lr=1e-4", "train.epochs=1", f"hydra.sweep.dir={project / 'multirun' / 'next'}"], project)
    for run_id in (parent_id, child.info.run_id):
        old = client.get_run(run_id)
        assert old.info.status == "KILLED", run_id
        assert "was killed without ending the run; closed by a later sweep" in old.data.tags["error"]
    newest = client.search_runs([old.info.experiment_id], "tags.`sweep.role` = 'parent'",
                                order_by=["attributes.start_time DESC"])[0]
    assert newest.info.run_id != parent_id and newest.info.status == "FINISHED"
