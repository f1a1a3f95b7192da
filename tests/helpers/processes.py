"""Waiting on real processes: poll until something shows up, and tell whether a pid has ended."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest


def wait_for(what: str, probe, proc: subprocess.Popen | None = None, log: Path | None = None,
             timeout: float = 240):
    """probe()'s first truthy value, polled (while `proc` runs, if given)."""
    def tail() -> str:
        return log.read_text()[-4000:] if log and log.is_file() else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"exited {proc.returncode} before {what}:\n{tail()}")
        time.sleep(0.5)
    pytest.fail(f"no {what} after {timeout} s:\n{tail()}")


def gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
