"""The one error type users see, and how interruptions unwind (a stage reports them through infra.stage)."""
from __future__ import annotations

import os
import signal
import sys


class PipelineError(Exception):
    """A problem the user can fix: the message names the file, row or key and what to do."""


def verbose() -> bool:
    return os.environ.get("FTPIPE_VERBOSE", "") not in ("", "0", "false") or "--verbose" in sys.argv


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def interrupt_on_sigterm() -> None:
    """SIGTERM (a scheduler or `kill` stopping us) unwinds like Ctrl-C, so `finally` blocks and run endings happen."""
    signal.signal(signal.SIGTERM, _interrupt)
