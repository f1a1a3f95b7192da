"""Two runs in one workspace: a second stage command is refused with the holder named, and a dead holder frees
the lock (the lock in-process: unit/test_lock.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from ftpipe import ROOT
from ftpipe.config.compose import compose_config, write_params
from ftpipe.infra.errors import PipelineError
from ftpipe.infra.lock import LOCK_FILE, workspace_lock
from tests.helpers.project import run_stage, stage_env


def test_a_stage_command_refuses_to_run_beside_another(project):
    write_params(compose_config(["data=custom", "data.path=data/raw/none.csv"]), project / "params.yaml")
    with workspace_lock("train", project / LOCK_FILE):
        result = run_stage("clean", project, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"another pipeline stage is running in this workspace (pid {os.getpid()}, stage train" in result.stderr
    assert not (project / "data/clean").exists()


def test_the_lock_dies_with_its_holder(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from ftpipe.infra.lock import workspace_lock\n"
         "with workspace_lock('train', sys.argv[1]):\n    print('held', flush=True); time.sleep(120)",
         str(tmp_path / LOCK_FILE)], cwd=ROOT, env=stage_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(PipelineError, match=f"pid {holder.pid}, stage train"):
            with workspace_lock("clean", tmp_path / LOCK_FILE):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with workspace_lock("clean", tmp_path / LOCK_FILE):  # no stale lock after SIGKILL
        pass
