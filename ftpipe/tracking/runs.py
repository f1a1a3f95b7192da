"""MLflow tracking: one run per trained model, shared by the stages that follow `train`.

`train` opens the run and records its id in RUN_FILE; `evaluate` and `compress` reopen it, so a
model's curves, test metrics, compression figures and artefacts all sit in one MLflow run.
Sweeps set FTPIPE_PARENT_RUN_ID so each job's run nests under the sweep's parent run.
"""
from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ftpipe.config.params import flatten
from ftpipe.infra.io import read_json, write_json
from ftpipe.infra.logs import get_logger
from ftpipe.tracking import keys
from ftpipe.tracking.faults import ERROR_TAG, close_orphaned_run, describe, ensure_reachable
from ftpipe.tracking.identity import dvc_lock, git_state, log_datasets, run_name, set_note, train_note
from ftpipe.tracking.owner import owner_tags
from ftpipe.tracking.trial import STATE_TAG, Pruned

RUN_FILE = Path("models/mlflow_run.json")
# the data stages' reports that the model's run carries: the numbers of their metrics files, and every file
UPSTREAM_REPORTS = {"clean": ["metrics/clean.json", "metrics/audit.json", "reports/audit/suspects.csv"],
                    "augment": ["metrics/augment.json", "reports/augment_samples.json"],
                    "tokenize": ["metrics/tokenize.json"]}
PARENT_ENV = "FTPIPE_PARENT_RUN_ID"
log = get_logger("mlflow")


def tracking_uri(cfg: DictConfig) -> str:
    """MLFLOW_TRACKING_URI wins; else the configured URI; a relative sqlite path is made absolute."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or cfg.mlflow.tracking_uri
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    return uri


def configure(cfg: DictConfig) -> str:
    """Point MLflow at the store and experiment; returns the experiment id."""
    import mlflow

    uri = ensure_reachable(cfg, tracking_uri(cfg))
    mlflow.set_tracking_uri(uri)
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or cfg.mlflow.experiment
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifacts = cfg.mlflow.get("artifact_location")
    if artifacts is None and uri.startswith("sqlite:///"):
        # keep artefacts beside the database, not in whatever directory a stage runs from
        artifacts = (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").as_uri()
    return mlflow.create_experiment(name, artifact_location=artifacts)


def version_tags() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    tags = {"version.python": platform.python_version()}
    for pkg in ("torch", "transformers", "datasets", "dvc", "hydra-core", "mlflow", "scikit-learn", "onnxruntime"):
        try:
            tags[f"version.{pkg}"] = version(pkg)
        except PackageNotFoundError:
            pass
    return tags


@contextmanager
def start_train_run(cfg: DictConfig, tags: dict[str, Any], resume_id: str | None = None) -> Iterator[Any]:
    """Open the model's run (nested under a sweep's parent when FTPIPE_PARENT_RUN_ID is set).

    `resume_id` reopens the run of an interrupted training. A crash ends the run FAILED with the
    error as a tag, never leaving it RUNNING.
    """
    import mlflow

    experiment_id = configure(cfg)
    if resume_id:
        with _ending_failed(mlflow.start_run(run_id=resume_id, log_system_metrics=bool(cfg.mlflow.system_metrics))
                            ) as run:
            write_json(RUN_FILE, {"run_id": run.info.run_id, "experiment_id": experiment_id,
                                  "tracking_uri": mlflow.get_tracking_uri()})
            log.info("MLflow run %s resumed", resume_id)
            yield run
        return
    close_orphaned_run(RUN_FILE)
    parent = os.environ.get(PARENT_ENV)
    all_tags = {**git_state(), **version_tags(), **{k: str(v) for k, v in tags.items()}}
    system = cfg.mlflow.system_metrics
    if system:  # CPU, memory (and GPU where pynvml sees one) sampled by MLflow while the run is open
        mlflow.set_system_metrics_sampling_interval(system)
    with _ending_failed(mlflow.start_run(experiment_id=experiment_id, run_name=run_name(cfg), tags=all_tags,
                                         parent_run_id=parent, nested=bool(parent),
                                         log_system_metrics=bool(system))) as run:
        write_json(RUN_FILE, {"run_id": run.info.run_id, "experiment_id": experiment_id,
                              "tracking_uri": mlflow.get_tracking_uri()})
        log.info("MLflow run %s in %s", run.info.run_id, mlflow.get_tracking_uri())
        yield run


@contextmanager
def resume_run(cfg: DictConfig) -> Iterator[Any]:
    """Reopen the run `train` recorded; start a fresh one if the store no longer has it."""
    import mlflow
    from mlflow.exceptions import MlflowException

    experiment_id = configure(cfg)
    run_id = read_json(RUN_FILE)["run_id"] if RUN_FILE.exists() else None
    if run_id is not None:
        try:
            mlflow.get_run(run_id)
        except MlflowException:
            log.warning("MLflow run %s is not in %s; logging to a new run", run_id, mlflow.get_tracking_uri())
            run_id = None
    started = mlflow.start_run(run_id=run_id) if run_id else mlflow.start_run(experiment_id=experiment_id)
    with _ending_failed(started) as run:
        yield run


@contextmanager
def _ending_failed(active: Any) -> Iterator[Any]:
    """The stage's block on an open run: tagged with this process (run_owner), ended FAILED on any exception."""
    import mlflow

    try:
        # (re)opened by this process: a later sweep must not take it for the run of a dead one
        mlflow.set_tags(owner_tags())
        yield active
    except Pruned as exc:  # a sweep's pruner stopped it: not a failure, and MLflow has no PRUNED status
        mlflow.set_tags({ERROR_TAG: str(exc), STATE_TAG: "PRUNED"})
        mlflow.end_run(status="KILLED")
        raise
    except BaseException as exc:
        mlflow.set_tag(ERROR_TAG, describe(exc))
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run(status="FINISHED")


def log_upstream() -> None:
    """Into the active run: each data stage's metrics as `data/<stage>/<key>` (`data/<stage>/<report>/<key>` for a
    second report), and its report files as artefacts."""
    import mlflow

    present = {stage: [p for p in paths if Path(p).is_file()] for stage, paths in UPSTREAM_REPORTS.items()}
    for stage, paths in present.items():
        for path in (p for p in paths if p.startswith("metrics/") and p.endswith(".json")):
            # a stage's second report (clean's audit.json) gets its own group: data/clean/audit/<key>
            name = stage if Path(path).stem == stage else f"{stage}/{Path(path).stem}"
            mlflow.log_metrics(keys.stage(name, flatten(read_json(path))))
    for stage, paths in present.items():
        for path in paths:
            mlflow.log_artifact(path, stage)


def log_context(cfg: DictConfig, names: list[str], splits: dict[str, Path]) -> None:
    """What a new model's run starts with: the data stages' reports, the splits as datasets, the description's
    data and recipe, and dvc.lock's entries (with hashes) of the stages that made its inputs."""
    import mlflow
    import pandas as pd

    log_upstream()
    log_datasets(cfg, splits)
    rows = {split: len(pd.read_parquet(path, columns=["label"])) for split, path in splits.items()}
    set_note(train_note(cfg, rows, names))
    mlflow.log_dict(dvc_lock(list(UPSTREAM_REPORTS)), "dvc/upstream_lock.json")
