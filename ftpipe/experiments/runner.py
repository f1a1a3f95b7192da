"""Run a sweep: one `dvc exp run` per job in this workspace, each job's MLflow run nested under one parent.

Jobs run one after another (the stages already use every core). Each is a named DVC experiment, so
`dvc exp show` / `dvc exp apply` work on it, and an MLflow child run (train reads FTPIPE_PARENT_RUN_ID).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from ftpipe.config.compose import compose_config
from ftpipe.experiments.grid import SweepSpec, axes, check_jobs, expand
from ftpipe.experiments.interrupts import aborting_parent_on_error, run_job_process
from ftpipe.experiments.ranking import NAME_TAG, PARENT_TAG
from ftpipe.experiments.report import REPORTS, SweepReport, finish
from ftpipe.infra.errors import PipelineError
from ftpipe.infra.io import read_json
from ftpipe.infra.logs import get_logger
from ftpipe.tracking.identity import git_state
from ftpipe.tracking.owner import close_dead_runs, owner_tags
from ftpipe.tracking.runs import PARENT_ENV, RUN_FILE, configure

CHECKPOINTS = Path("models/checkpoints")
log = get_logger("sweep")


def sweep_name(base: str | None) -> str:
    """A unique, git-ref-safe name: `<base>-<MMDD-HHMMSS>`; it prefixes every job's experiment name."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", base or "sweep").strip("-.") or "sweep"
    return f"{stem}-{time.strftime('%m%d-%H%M%S')}"


def check_workspace() -> None:
    """`dvc exp run` needs a DVC project inside a git repository with at least one commit."""
    if not Path("dvc.yaml").is_file():
        raise PipelineError("dvc.yaml: not found; run sweeps from the project root")
    head = subprocess.run(["git", "rev-parse", "--verify", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        raise PipelineError("git: DVC experiments need a git repository with at least one commit")
    if shutil.which("dvc") is None:
        raise PipelineError("dvc: not on PATH; activate the environment (source .venv/bin/activate)")


def current_run_id() -> str | None:
    return read_json(RUN_FILE).get("run_id") if RUN_FILE.is_file() else None


def run_sweep(spec: SweepSpec, name: str | None = None, apply_best: bool = False) -> SweepReport:
    import mlflow
    from mlflow.tracking import MlflowClient

    jobs = expand(spec)
    check_jobs(jobs)
    check_workspace()
    name = sweep_name(name)
    swept = axes(spec)
    cfg = compose_config(jobs[0])
    experiment_id = configure(cfg)
    uri = mlflow.get_tracking_uri()
    client = MlflowClient(uri)
    experiment = client.get_experiment(experiment_id).name
    parent_id = open_parent(client, experiment_id, name, spec, len(jobs), swept)
    log.info("sweep %s: %d job(s) over %s; MLflow parent run %s in %s", name, len(jobs), ", ".join(swept) or "-",
             parent_id, uri)
    # FTPIPE_NO_LOCK: the sweep holds the workspace lock (ftpipe.infra.lock) for all its jobs' stages
    env = {**os.environ, PARENT_ENV: parent_id, "MLFLOW_TRACKING_URI": uri, "MLFLOW_EXPERIMENT_NAME": experiment,
           "FTPIPE_NO_LOCK": "1"}
    failed: list[str] = []
    started = time.monotonic()
    with aborting_parent_on_error(client, parent_id, spec):   # Ctrl-C, SIGTERM, an error: never left RUNNING
        run_jobs(client, jobs, name, spec.target, env, failed)
    client.set_tag(parent_id, "sweep.failed_jobs", str(len(failed)))
    status = "FAILED" if len(failed) == len(jobs) else "FINISHED"
    client.set_terminated(parent_id, status)
    report = finish(client, parent_id, spec)
    log.info("sweep %s %s in %s; report in %s", name, status.lower(), _minutes(time.monotonic() - started),
             REPORTS / name)
    if apply_best and report.best.get("exp"):
        apply(report.best["exp"])
    if failed:
        raise PipelineError(f"{len(failed)} of {len(jobs)} sweep job(s) failed: {', '.join(failed)} (their errors "
                            f"are above and in their MLflow runs; the report covers the rest)")
    return report


def run_jobs(client: Any, jobs: list[list[str]], name: str, target: str, env: dict[str, str],
             failed: list[str]) -> None:
    """The jobs one after another; the names of those that fail are appended to `failed` as they go."""
    started = time.monotonic()
    for number, job in enumerate(jobs, 1):
        exp = f"{name}-{number:02d}"
        elapsed = time.monotonic() - started
        eta = f", ~{_minutes(elapsed / (number - 1) * (len(jobs) - number + 1))} left" if number > 1 else ""
        log.info("job %d/%d (%s): %s [%s elapsed%s]", number, len(jobs), exp, " ".join(job) or "-",
                 _minutes(elapsed), eta)
        before = current_run_id()
        ok = run_job(job, exp, target, {**env, "FTPIPE_RUN_NAME": exp})
        run_id = current_run_id()
        if not ok:
            failed.append(exp)
        if run_id and run_id != before:  # a failed job's run (FAILED, with its error) is tagged too
            _tag(client, run_id, {"sweep.exp": exp, "sweep.job": str(number), "sweep.overrides": " ".join(job)})


def apply(exp: str) -> None:
    """`dvc exp apply`, tolerating the outputs of stages past the sweep's target, which never ran."""
    log.info("applying the best experiment %s to the workspace", exp)
    done = subprocess.run(["dvc", "exp", "apply", exp], capture_output=True, text=True)
    if done.returncode == 0:
        return
    if "Checkout failed" not in done.stderr:
        why = done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode
        raise PipelineError(f"dvc exp apply {exp}: {why}")
    # params.yaml and dvc.lock are applied by now; check out what exists, skip what was never built
    subprocess.run(["dvc", "checkout", "--allow-missing"], check=True, capture_output=True)
    log.info("applied %s; outputs of stages it did not run (e.g. compress) are absent until `dvc repro`", exp)


def open_parent(client: Any, experiment_id: str, name: str, spec: SweepSpec, n_jobs: int, swept: list[str]) -> str:
    """The sweep's parent run: its tags say how to read the children (axes, ranking metric) and whose it is.

    Every sweep entry point opens its parent here, so this is where runs that an earlier sweep killed with
    SIGKILL left RUNNING are closed first (ftpipe.tracking.owner).
    """
    close_dead_runs(client)
    parent = client.create_run(experiment_id, run_name=name, tags={
        PARENT_TAG: "parent", NAME_TAG: name, "sweep.axes": json.dumps(swept), "sweep.jobs": str(n_jobs),
        "sweep.metric": spec.metric, "sweep.mode": spec.mode, "sweep.target": spec.target,
        "sweep.fixed": " ".join(spec.fixed), **git_state(), **owner_tags()})
    for key, value in spec.params.items():
        client.log_param(parent.info.run_id, f"sweep.{key}", value)
    return parent.info.run_id


def run_job(job: list[str], exp: str, target: str, env: dict[str, str]) -> bool:
    """One `dvc exp run`; True when it succeeded with a training of its own."""
    before = current_run_id()
    # --force-downstream: after train, evaluate and compress really run; restored from the run cache
    # (same model bytes as an earlier run) they would skip logging to this job's MLflow run
    cmd = ["dvc", "exp", "run", "--force-downstream", "--name", exp, *(a for item in job for a in ("-S", item)), target]
    if run_job_process(cmd, env=env) != 0:
        log.error("job %s failed: %s", exp, " ".join(cmd))
        return False
    if current_run_id() not in (None, before):
        return True
    # train did not rerun: this job's params equal the workspace's last training. Force a fresh
    # one, without the old finished checkpoints (train would resume them into the old run).
    log.info("job %s: train was up to date, so it left no run of its own; retraining with --force", exp)
    shutil.rmtree(CHECKPOINTS, ignore_errors=True)
    forced = [*cmd[:3], "--force", *cmd[3:]]
    if run_job_process(forced, env=env) != 0:
        log.error("job %s failed: %s", exp, " ".join(forced))
        return False
    return current_run_id() not in (None, before)


def _tag(client: Any, run_id: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
