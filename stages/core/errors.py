"""One-line errors for users, tracebacks only on request."""
from __future__ import annotations

import os
import sys
from typing import Callable


class PipelineError(Exception):
    """A problem the user can fix: the message names the file, row or key and what to do."""


def verbose() -> bool:
    return os.environ.get("FTPIPE_VERBOSE", "") not in ("", "0", "false") or "--verbose" in sys.argv


def run_stage(main: Callable[[], object]) -> None:
    """Run a stage's main(); turn failures into `error: ...` on stderr and a non-zero exit."""
    try:
        main()
    except PipelineError as exc:
        if verbose():
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # an unexpected failure: still one line unless asked for more
        if verbose():
            raise
        print(f"error: {type(exc).__name__}: {exc} (set FTPIPE_VERBOSE=1 for the traceback)",
              file=sys.stderr)
        sys.exit(1)
