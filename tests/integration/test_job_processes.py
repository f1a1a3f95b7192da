"""Processes behind a sweep: runs whose process is gone are closed; a job never outlives its driver (real
subprocesses, real signals)."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from mlflow.tracking import MlflowClient

from ftpipe import ROOT
from tests.helpers.processes import gone, wait_for


def test_close_dead_runs_ends_only_runs_whose_process_is_gone(tmp_path):
    from ftpipe.tracking.owner import HOST_TAG, PID_TAG, close_dead_runs, owner_tags

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
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
    proc = subprocess.Popen([sys.executable, "-c", driver], cwd=ROOT)
    pid_file = tmp_path / "grandchild.pid"
    wait_for("the job's child", pid_file.is_file, proc)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == driver_rc
    wait_for("the job to get SIGINT", (tmp_path / "job.got").is_file, timeout=30)
    # the whole group got SIGINT: the job's sleeping child too
    wait_for("the job's child to end", lambda: gone(int(pid_file.read_text())), timeout=30)
