"""One sweep job: a DVC experiment of the pipeline, an MLflow run under the sweep's parent, and its outcome.

The job runs `dvc exp run --temp` in the workspace: DVC copies the project to a temporary folder, reproduces up to
the sweep's target with the job's `-S` overrides, and keeps the result as an experiment (`dvc exp show`). Stages
whose inputs a previous job already saw come back from DVC's run cache, so an lr sweep cleans and tokenizes once.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ftpipe import ROOT
from ftpipe.config.params import flatten
from ftpipe.experiments.interrupts import run_job_process
from ftpipe.experiments.settings import SweepSettings
from ftpipe.infra.logs import get_logger
from ftpipe.tracking import keys
from ftpipe.tracking.faults import end_run
from ftpipe.tracking.runs import PARENT_ENV
from ftpipe.tracking.trial import STATE_TAG, TRIAL_ENV

KEY_TAG, EXP_TAG, RESTORED_TAG = "sweep.job_key", "sweep.exp", "sweep.restored"
STUDY_ENV = "FTPIPE_OPTUNA_STUDY"   # set by the Optuna sweeper: storage, study and pruner, for TRIAL_ENV
log = get_logger("sweep")


@dataclass
class JobResult:
    state: str               # COMPLETE | PRUNED | FAILED
    value: float             # the sweep's metric (NaN unless COMPLETE)
    run_id: str | None
    reused: bool = False     # finished in an earlier attempt of this sweep: not run again


def run(cfg: DictConfig, settings: SweepSettings, number: int, overrides: list[str], log_file: Path) -> JobResult:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    parent = client.get_run(os.environ[PARENT_ENV])
    exp = f"{settings.name}-{number:02d}"
    key = " ".join(sorted(overrides)) + (f" trial={settings.trial_id}" if settings.trial_id is not None else "")
    done = [r for r in attempts(client, parent, key) if r.info.status == "FINISHED"]
    if done and settings.metric in done[0].data.metrics:
        log.info("job %s: finished in an earlier attempt (run %s); reused, not retrained", exp, done[0].info.run_id)
        return JobResult("COMPLETE", done[0].data.metrics[settings.metric], done[0].info.run_id, reused=True)
    forget_experiment(exp)   # a killed attempt may have left one of that name
    env = {**os.environ, "FTPIPE_RUN_NAME": exp}
    if settings.trial_id is not None:
        env[TRIAL_ENV] = json.dumps({**json.loads(os.environ[STUDY_ENV]), "trial_id": settings.trial_id})
    cmd = ["dvc", "exp", "run", "--temp", "--name", exp, *(a for o in overrides for a in ("-S", o)), settings.target]
    started = time.time() * 1000
    log.info("job %s: %s", exp, " ".join(overrides) or "(no overrides)")
    with open(log_file, "w") as out:
        code = run_job_process(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    trained = [r for r in attempts(client, parent, None, exp) if r.info.start_time >= started - 1000]
    run = trained[0] if trained else None
    tags = {KEY_TAG: key, EXP_TAG: exp, "sweep.job": str(number), "sweep.overrides": " ".join(overrides)}
    if code == 0:
        run_id = complete_run(client, parent, run, exp, settings.target)
        value = client.get_run(run_id).data.metrics.get(settings.metric, math.nan)
        _tag(client, run_id, {**tags, STATE_TAG: "COMPLETE"})
        log_choices(client, run_id, overrides)
        return JobResult("COMPLETE", value, run_id)
    if run is not None and run.data.tags.get(STATE_TAG) == "PRUNED":
        _tag(client, run.info.run_id, tags)
        log.info("job %s: pruned (%s)", exp, run.data.tags.get("error", ""))
        return JobResult("PRUNED", math.nan, run.info.run_id)
    error = f"dvc exp run exited {code}: " + last_error(log_file)
    log.error("job %s failed: %s (log: %s)", exp, error, log_file)
    # a job that failed before train opened a run still shows in the sweep, with what it was trying
    train = {f"train.{k}": v for k, v in flatten(cfg.train).items()}
    run_id = run.info.run_id if run is not None else child_run(client, parent, exp, {**train, "seed": cfg.seed})
    _tag(client, run_id, {**tags, STATE_TAG: "FAILED", "sweep.error": error})
    if client.get_run(run_id).info.status != "FAILED":
        end_run(client, run_id, "FAILED", error)
    log_choices(client, run_id, overrides)
    return JobResult("FAILED", math.nan, run_id)


def log_choices(client: Any, run_id: str, overrides: list[str]) -> None:
    """The job's overrides as params where the run lacks them: a config group such as `augment=synonym` is not a
    config value train logs, yet it is what the sweep varies and the report groups by."""
    have = client.get_run(run_id).data.params
    for item in overrides:
        key, _, value = item.lstrip("+~").partition("=")
        if key and key not in have:
            client.log_param(run_id, key, value)


def attempts(client: Any, parent: Any, key: str | None, name: str | None = None) -> list[Any]:
    """The parent's child runs of one job (by key, or by run name), newest first."""
    query = f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    if key is not None:
        query += f" and tags.`{KEY_TAG}` = '{key}'"
    if name is not None:
        query += f" and attributes.run_name = '{name}'"
    return client.search_runs([parent.info.experiment_id], query, order_by=["attributes.start_time DESC"])


def complete_run(client: Any, parent: Any, run: Any | None, exp: str, target: str) -> str:
    """The one answer to stages DVC restored from its cache instead of running: they logged nothing to this job's
    run, so whatever the run lacks is logged from the experiment's own metrics files. If train itself was restored,
    there is no run yet: one is made from the experiment's params and metrics, and says so."""
    files = experiment_files(exp, ["params.yaml", "metrics/train.json", "metrics/metrics.json"])
    restored = []
    if run is None:
        params = flatten(OmegaConf.create(files.get("params.yaml", {})))
        run = client.get_run(child_run(client, parent, exp, dict(list(params.items())[:500])))
        restored.append("train")
    values = keys.summary(files.get("metrics/train.json", {}))
    if target in ("evaluate", "compress"):
        values |= keys.test(files.get("metrics/metrics.json", {}))
    missing = {k: v for k, v in values.items() if k not in run.data.metrics}
    for k, v in missing.items():
        client.log_metric(run.info.run_id, k, float(v))
    if any(k.startswith("test/") for k in missing):
        restored.append("evaluate")
    if restored:
        client.set_tag(run.info.run_id, RESTORED_TAG, f"{', '.join(restored)} restored from DVC's run cache; "
                                                      "metrics logged from the experiment's files")
    if client.get_run(run.info.run_id).info.status == "RUNNING":
        client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def experiment_files(exp: str, paths: list[str]) -> dict[str, Any]:
    """JSON/YAML files as committed in DVC experiment `exp` (its git ref); absent ones are left out."""
    import yaml

    ref = experiment_ref(exp)
    out = {}
    for path in paths if ref else []:
        shown = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=ROOT, capture_output=True, text=True)
        if shown.returncode == 0:
            out[path] = yaml.safe_load(shown.stdout) if path.endswith(".yaml") else json.loads(shown.stdout)
    return out


def experiment_ref(exp: str) -> str | None:
    """The git ref DVC keeps experiment `exp` under (refs/exps/<baseline>/<name>), or None."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], cwd=ROOT,
                          capture_output=True, text=True).stdout.split()
    return next((r for r in refs if r.rsplit("/", 1)[-1] == exp), None)


def forget_experiment(exp: str) -> None:
    # asking git first spares most jobs a `dvc exp remove` (1.4 s of DVC start-up) for a name nobody used yet
    if experiment_ref(exp):
        subprocess.run(["dvc", "exp", "remove", exp], cwd=ROOT, capture_output=True, text=True)


def last_error(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    # the stages' own one-line errors ("error: ...") say why; DVC's "ERROR: failed to reproduce" only says where
    ours = [ln for ln in lines if ln.startswith("error:")]
    dvc = [ln for ln in lines if "error" in ln.lower()]
    return (ours or dvc or lines or ["no output"])[-1][:500]


def child_run(client: Any, parent: Any, exp: str, params: dict[str, Any]) -> str:
    """A job's run made by the sweep itself (train opened none): nested under the parent, named like the job."""
    run_id = client.create_run(parent.info.experiment_id, run_name=exp,
                               tags={"mlflow.parentRunId": parent.info.run_id}).info.run_id
    for k, v in params.items():
        client.log_param(run_id, k, v)
    return run_id


def _tag(client: Any, run_id: str, tags: dict[str, str]) -> None:
    for k, v in tags.items():
        client.set_tag(run_id, k, v[:5000])
