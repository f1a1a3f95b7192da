"""The one error type users see, and how interruptions unwind (a stage reports them through infra.stage)."""
from __future__ import annotations

import os
import signal
import sys


class PipelineError(Exception):
    """A problem the user can fix: the message names the file, row or key and what to do."""


def verbose() -> bool:
    return os.environ.get("FTPIPE_VERBOSE", "") not in ("", "0", "false") or "--verbose" in sys.argv


_received: list[str] = []   # the signals that interrupted this process, in order


def _interrupt(signum, frame):
    _received.append(signal.Signals(signum).name)
    raise KeyboardInterrupt(_received[-1])


def interrupt_on_sigterm() -> None:
    """SIGTERM (a scheduler or `kill` stopping us) unwinds like Ctrl-C, so `finally` blocks and run endings happen;
    both are remembered (see received)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)


def received() -> KeyboardInterrupt | None:
    """The first interrupt this process received, whatever became of its exception: library code may catch it and
    raise something else (OmegaConf cut mid-update, then Hydra's exit 1)."""
    return KeyboardInterrupt(_received[0]) if _received else None
