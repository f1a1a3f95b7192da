"""MLflow faults: an unreachable tracking server caught early, and runs never left RUNNING by a dead process."""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from omegaconf import DictConfig

from ftpipe.infra.errors import PipelineError
from ftpipe.infra.logs import get_logger

PROBE_TIMEOUT_S = 3
ERROR_TAG = "error"   # why a run ended FAILED or KILLED
log = get_logger("mlflow")


def describe(exc: BaseException) -> str:
    """The ERROR_TAG text for an exception: `interrupted (SIGTERM)` for Ctrl-C and SIGTERM, else type and message."""
    if isinstance(exc, KeyboardInterrupt):
        return f"interrupted ({str(exc) or 'SIGINT'})"   # errors.py raises KeyboardInterrupt("SIGTERM") on SIGTERM
    return f"{type(exc).__name__}: {exc}"[:5000]


def end_run(client, run_id: str, status: str, reason: str) -> None:
    """End a run that did not finish, saying why: every abnormal ending outside a stage's own run goes here."""
    client.set_tag(run_id, ERROR_TAG, reason[:5000])
    client.set_terminated(run_id, status=status)


def server_problem(uri: str) -> str | None:
    """Why an http(s) tracking server cannot be reached, or None if it answers (with any status).

    MLflow's own client retries for minutes before failing; this probe answers in seconds.
    """
    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return None  # it answered: reachable, whatever it thinks of /health
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason) or type(reason).__name__
    return None


def ensure_reachable(cfg: DictConfig, uri: str) -> str:
    """The URI to log to: `uri`, or the local sqlite store when the server is down and the config allows it."""
    if not uri.startswith(("http://", "https://")):
        return uri
    problem = server_problem(uri)
    if problem is None:
        return uri
    if not cfg.mlflow.get("fallback_to_local", False):
        raise PipelineError(f"MLflow tracking server {uri} is unreachable ({problem}); start it, fix "
                            f"MLFLOW_TRACKING_URI / mlflow.tracking_uri, or set mlflow.fallback_to_local=true")
    local = "sqlite:///" + str(Path("mlflow.db").resolve())
    log.warning("!!! MLflow tracking server %s is unreachable (%s): FALLING BACK to the local store %s "
                "(mlflow.fallback_to_local=true); this run will not appear on the server !!!", uri, problem, local)
    os.environ["MLFLOW_TRACKING_URI"] = local  # so the later stages of this process use the same store
    return local


def close_orphaned_run(run_file: Path) -> None:
    """End the run recorded in `run_file` as KILLED if it is still RUNNING.

    Called when `train` starts a new run under the workspace lock: no stage of this workspace can
    be running, so a RUNNING run here belongs to a process that was killed and not resumed.
    """
    if os.environ.get("FTPIPE_NO_LOCK") == "1" or not run_file.is_file():
        return
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        run_id = json.loads(run_file.read_text())["run_id"]
        client = MlflowClient()
        if client.get_run(run_id).info.status == "RUNNING":
            end_run(client, run_id, "KILLED", "interrupted: its process died; a new training run replaced it")
            log.warning("MLflow run %s was left RUNNING by a killed stage; marked KILLED", run_id)
    except (MlflowException, KeyError, ValueError, OSError):
        pass  # another store, or an unreadable file: nothing of ours to close
