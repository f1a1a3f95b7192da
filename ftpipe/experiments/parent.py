"""A sweep's MLflow parent run: opened once, found again by the sweep's name when the same command resumes it."""
from __future__ import annotations

import json
from typing import Any

from ftpipe.experiments.ranking import NAME_TAG, PARENT_TAG
from ftpipe.experiments.settings import SweepSettings
from ftpipe.infra.logs import get_logger
from ftpipe.tracking.identity import git_state
from ftpipe.tracking.owner import close_dead_runs, owner_tags

log = get_logger("sweep")


def open_parent(client: Any, experiment_id: str, settings: SweepSettings, axes: list[str],
                kind: str = "grid") -> str:
    """The parent run of this sweep: the earlier one of the same name when resuming, else a new one.

    Runs that a SIGKILLed sweep left RUNNING are closed first (ftpipe.tracking.owner), so a resumed sweep sees its
    interrupted jobs as KILLED, and runs them again.
    """
    close_dead_runs(client)
    tags = {PARENT_TAG: "parent", NAME_TAG: settings.name, "sweep.kind": kind, "sweep.axes": json.dumps(axes),
            "sweep.metric": settings.metric, "sweep.mode": settings.mode, "sweep.target": settings.target,
            **git_state(), **owner_tags()}
    earlier = find_parent(client, experiment_id, settings.name) if settings.resume else None
    if earlier is not None:
        run_id = earlier.info.run_id
        client.update_run(run_id, status="RUNNING")
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
        log.info("resuming sweep %s (MLflow parent run %s): finished jobs are reused, the rest run", settings.name,
                 run_id)
        return run_id
    run_id = client.create_run(experiment_id, run_name=settings.name, tags=tags).info.run_id
    log.info("sweep %s: MLflow parent run %s", settings.name, run_id)
    return run_id


def find_parent(client: Any, experiment_id: str, name: str) -> Any | None:
    found = client.search_runs([experiment_id], f"tags.`{PARENT_TAG}` = 'parent' and tags.`{NAME_TAG}` = '{name}'",
                               order_by=["attributes.start_time DESC"], max_results=1)
    return found[0] if found else None
