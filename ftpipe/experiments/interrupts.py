"""A sweep's parent run is never left RUNNING, and its jobs do not outlive it.

Ctrl-C or SIGTERM ends it KILLED, an error FAILED, with the reason in its `error` tag; its children still
RUNNING end KILLED. A sweep killed with SIGKILL cannot do that itself: its runs carry their process's pid
(ftpipe.tracking.owner), and the next sweep to open a parent closes them (runner.open_parent).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from ftpipe.experiments.report import finish
from ftpipe.experiments.store import children
from ftpipe.infra.logs import get_logger
from ftpipe.tracking.faults import describe, end_run

log = get_logger("sweep")


def abort_parent(client: Any, parent_id: str, exc: BaseException, settings: Any) -> None:
    """End the parent KILLED (interrupted) or FAILED (an error), then its children still RUNNING KILLED;
    then write the report of the jobs that did end."""
    reason = describe(exc)
    end_run(client, parent_id, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED", reason)
    running = [k.info.run_id for k in children(client, client.get_run(parent_id)) if k.info.status == "RUNNING"]
    for run_id in running:
        end_run(client, run_id, "KILLED", f"its sweep stopped: {reason}")
    log.warning("sweep stopped (%s): MLflow parent run %s ended, %d running job run(s) marked KILLED", reason,
                parent_id, len(running))
    try:
        finish(client, parent_id, settings)
    except Exception as error:   # e.g. no job got as far as the ranking metric: that must not hide why we stopped
        log.warning("no sweep report: %s", error)


def run_job_process(cmd: list[str], grace_s: float = 30, **popen: Any) -> int:
    """Run a job's command in a process group of its own, under job_guard; its exit status.

    If this process is stopped meanwhile (Ctrl-C, SIGTERM, an error), the job's whole group gets SIGINT, so its
    stages end their runs as on Ctrl-C, and is killed if still there after `grace_s`; if this process dies
    without a word (SIGKILL, a launcher killing its worker), job_guard does the same. A job never outlives its
    sweep. Its own group also keeps a terminal's Ctrl-C from reaching the job twice (once forwarded from here).
    """
    guard = [sys.executable, str(Path(__file__).with_name("job_guard.py"))]
    proc = subprocess.Popen([*guard, *cmd], process_group=0, **popen)
    try:
        return proc.wait()
    except BaseException:
        _stop_group(proc, grace_s)
        raise


def _stop_group(proc: subprocess.Popen, grace_s: float) -> None:
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=grace_s)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    finally:   # also when a second Ctrl-C cuts the grace period short
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
