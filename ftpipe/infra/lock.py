"""One stage at a time per workspace: an advisory `flock` on `.ftpipe.lock`.

`dvc repro` already refuses a second `dvc repro` in the same repository; this lock also covers
`python -m stages.<name>` run by hand next to a pipeline. The kernel drops the lock when its
process dies (even by SIGKILL), so a crashed stage never leaves a stale lock behind.
"""
from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ftpipe.infra.errors import PipelineError

LOCK_FILE = ".ftpipe.lock"


def _holder(handle) -> str:
    handle.seek(0)
    return handle.read().strip() or "unknown"


@contextmanager
def workspace_lock(stage: str, path: str | Path = LOCK_FILE) -> Iterator[None]:
    """Hold the workspace lock for the block, or fail at once naming the process that holds it.

    Skipped (a no-op) in DDP workers other than rank 0, which run inside their launcher's lock, in every
    worker of a stage that launched them itself and holds the lock (FTPIPE_LOCK_HELD=1, `train.nproc`),
    and when FTPIPE_NO_LOCK=1.
    """
    if "1" in (os.environ.get("FTPIPE_NO_LOCK"), os.environ.get("FTPIPE_LOCK_HELD")) or \
            os.environ.get("RANK", "0") != "0":
        yield
        return
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PipelineError(f"{Path(path).resolve()}: another pipeline stage is running in this workspace "
                                f"({_holder(handle)}); wait for it to finish or stop it, then rerun") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, stage {stage}, since {time.strftime('%H:%M:%S')}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the flock
