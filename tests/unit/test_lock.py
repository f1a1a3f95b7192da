"""The workspace lock in-process: a second holder is refused with the first named; a DDP worker shares it."""
from __future__ import annotations

import os

import pytest

from ftpipe.infra.errors import PipelineError
from ftpipe.infra.lock import LOCK_FILE, workspace_lock


def test_second_holder_is_refused_with_the_first_named(tmp_path, monkeypatch):
    lock = tmp_path / LOCK_FILE
    with workspace_lock("train", lock):
        with pytest.raises(PipelineError, match=rf"another pipeline stage is running in this workspace "
                                                rf"\(pid {os.getpid()}, stage train, since "):
            with workspace_lock("clean", lock):
                pass
        monkeypatch.setenv("RANK", "1")  # a DDP worker runs inside its launcher's lock
        with workspace_lock("train", lock):
            pass
    with workspace_lock("clean", lock):  # released on exit
        pass
