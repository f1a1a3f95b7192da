"""Run a stage's main(): under the workspace lock, failures as one `error: ...` line and an exit code.

Exit 2 for a problem the user can fix (PipelineError, a missing input), 130 for Ctrl-C or SIGTERM, 1 for
anything unexpected; tracebacks only with FTPIPE_VERBOSE=1 or --verbose.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from ftpipe.infra.errors import PipelineError, interrupt_on_sigterm, received, verbose
from ftpipe.infra.lock import workspace_lock
from ftpipe.infra.publish import finish_interrupted


def _close_progress_bars() -> None:
    """End an open tqdm bar's line, so the error starts a line of its own."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", None) or []):
        bar.close()


def _stop_interrupted() -> None:
    _close_progress_bars()
    print("error: interrupted", file=sys.stderr)
    sys.exit(130)


def run_stage(main: Callable[[], object]) -> None:
    """Run a stage's main() under the workspace lock; turn failures into `error: ...` and a non-zero exit.

    SIGTERM unwinds like Ctrl-C, so temp outputs are removed and the MLflow run ends FAILED.
    """
    interrupt_on_sigterm()
    stage = Path(sys.argv[0]).stem if main.__module__ == "__main__" else main.__module__.rpartition(".")[2]
    try:
        with workspace_lock(stage):
            finish_interrupted()  # outputs a killed stage had begun to publish: completed, so they stay a set
            main()
    except PipelineError as exc:
        if verbose():
            raise
        _close_progress_bars()
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except FileNotFoundError as exc:  # almost always an input of an earlier stage that was never made
        if verbose():
            raise
        print(f"error: {exc.filename or exc}: not found; run the earlier stages first (`dvc repro`) or check "
              f"the path", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        _stop_interrupted()
    except Exception as exc:  # an unexpected failure: still one line unless asked for more
        if received() is not None:  # the interrupt, turned into another error by library code on its way out
            _stop_interrupted()
        if verbose():
            raise
        _close_progress_bars()
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"error: {type(exc).__name__}: {first} (set FTPIPE_VERBOSE=1 for the traceback)",
              file=sys.stderr)
        sys.exit(1)
