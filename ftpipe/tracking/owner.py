"""Which process an MLflow run belongs to, so runs whose process was killed outright can be closed later.

A SIGKILL (or the OOM killer, or a power cut) gives a process no chance to end its run, which would then stay
RUNNING forever. Every run is tagged with its process (host, pid, start time) when it is opened or reopened;
`close_dead_runs` ends KILLED the RUNNING runs of this host whose process no longer exists.
"""
from __future__ import annotations

import socket
from typing import Any

from ftpipe.infra.logs import get_logger
from ftpipe.tracking.faults import end_run

HOST_TAG, PID_TAG, STARTED_TAG = "ftpipe.host", "ftpipe.pid", "ftpipe.pid_started"
log = get_logger("mlflow")


def owner_tags() -> dict[str, str]:
    import psutil

    me = psutil.Process()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(me.pid), STARTED_TAG: f"{me.create_time():.2f}"}


def owner_gone(tags: dict[str, str]) -> bool:
    """True only when the owner is known to be gone: a run of this host whose pid is free, a zombie, or reused."""
    import psutil

    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return False   # another machine's run, or one opened before these tags existed: cannot tell
    try:
        proc = psutil.Process(int(tags[PID_TAG]))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        # the same pid with another start time is a new process that reused the number
        return abs(proc.create_time() - float(tags.get(STARTED_TAG) or proc.create_time())) > 1.0
    except psutil.NoSuchProcess:
        return True
    except (psutil.AccessDenied, ValueError):
        return False


def close_dead_runs(client: Any) -> list[str]:
    """End KILLED, with the reason as a tag, every RUNNING run of this host whose process is gone; their ids."""
    host = socket.gethostname()
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
                                 max_results=5000) if experiments else []
    closed = []
    for run in running:
        if owner_gone(run.data.tags):
            end_run(client, run.info.run_id, "KILLED", f"interrupted: its process (pid {run.data.tags[PID_TAG]} on "
                    f"{host}) was killed without ending the run; closed by a later sweep")
            closed.append(run.info.run_id)
    if closed:
        log.warning("%d MLflow run(s) left RUNNING by killed processes marked KILLED: %s", len(closed),
                    ", ".join(closed))
    return closed
