"""Find runs in the MLflow store: a sweep's parent by name or id, its children, any runs by id."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ftpipe.experiments.ranking import NAME_TAG, PARENT_TAG
from ftpipe.infra.errors import PipelineError

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def store_uri(explicit: str | None = None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else params.yaml's mlflow.tracking_uri, else ./mlflow.db."""
    from ftpipe.config.params import load_params, params_path
    from ftpipe.tracking.runs import tracking_uri

    if explicit:
        return explicit
    if not os.environ.get("MLFLOW_TRACKING_URI") and not params_path().is_file():
        return "sqlite:///" + str(Path("mlflow.db").resolve())
    return tracking_uri(load_params())


def client(uri: str):
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        raise PipelineError(f"{uri}: no MLflow store there yet (run a training or a sweep first)")
    return MlflowClient(uri)


def _experiment_ids(mlflow_client) -> list[str]:
    return [e.experiment_id for e in mlflow_client.search_experiments()]


def get_run(mlflow_client, run_id: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_run(run_id)
    except MlflowException:
        raise PipelineError(f"run '{run_id}' is not in {mlflow_client.tracking_uri}") from None


def find_sweep(mlflow_client, ref: str | None) -> Any:
    """A sweep's parent run: by run id, by sweep name (the latest of that name), or the latest of all."""
    if ref and RUN_ID.match(ref):
        run = get_run(mlflow_client, ref)
        if run.data.tags.get(PARENT_TAG) != "parent":
            raise PipelineError(f"run '{ref}' is not a sweep's parent run (no tag {PARENT_TAG}=parent)")
        return run
    query = f"tags.`{PARENT_TAG}` = 'parent'" + (f" and tags.`{NAME_TAG}` = '{ref}'" if ref else "")
    found = mlflow_client.search_runs(_experiment_ids(mlflow_client), query, order_by=["attributes.start_time DESC"],
                                      max_results=1)
    if not found:
        what = f"named '{ref}'" if ref else "at all"
        raise PipelineError(f"no sweep {what} in {mlflow_client.tracking_uri} "
                            "(see `python -m ftpipe.experiments.compare sweeps`)")
    return found[0]


def list_sweeps(mlflow_client, limit: int = 20) -> list[Any]:
    return mlflow_client.search_runs(_experiment_ids(mlflow_client), f"tags.`{PARENT_TAG}` = 'parent'",
                                     order_by=["attributes.start_time DESC"], max_results=limit)


def children(mlflow_client, parent: Any) -> list[Any]:
    return mlflow_client.search_runs([parent.info.experiment_id],
                                     f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                     order_by=["attributes.start_time ASC"], max_results=5000)
