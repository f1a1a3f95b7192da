"""Sweeps as a user runs them: the `ftpipe-sweep` command in a project copy, and what it left in MLflow."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.project import run, stage_env

TINY = ["data.max_rows=200", "mlflow.log_model=false", "train.epochs=1"]   # seconds per job on the tiny model
SWEEP = [sys.executable, "-m", "ftpipe.experiments.sweep", "-m"]


def sweep(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([*SWEEP, *args], project, check=check)


def start_sweep(project: Path, log: Path, *args: str) -> subprocess.Popen:
    """The sweep in the background, its output in `log`."""
    return subprocess.Popen([*SWEEP, *args], cwd=project, env=stage_env(), stdout=log.open("w"),
                            stderr=subprocess.STDOUT)


def client(project: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{project / 'mlflow.db'}")   # the workspace's store


def parents(project: Path) -> list:
    c = client(project)
    return c.search_runs([e.experiment_id for e in c.search_experiments()], "tags.`sweep.role` = 'parent'")


def children(project: Path, parent) -> list:
    return client(project).search_runs([parent.info.experiment_id],
                                       f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                       order_by=["attributes.start_time ASC"])


def job_logs(project: Path) -> list[str]:
    return [p.read_text() for p in sorted(project.glob("multirun/*/*/dvc.log"))]
