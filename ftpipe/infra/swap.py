"""Swap two directories in one step (Linux `renameat2(RENAME_EXCHANGE)`), so replacing an output
directory never passes through a moment where it is missing."""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

RENAME_EXCHANGE = 2
AT_FDCWD = -100
_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def exchange(a: str | Path, b: str | Path) -> bool:
    """Atomically swap the paths `a` and `b` (both must exist); False if the system cannot."""
    if _renameat2 is None:
        return False
    result = _renameat2(AT_FDCWD, os.fsencode(str(a)), AT_FDCWD, os.fsencode(str(b)), RENAME_EXCHANGE)
    return result == 0
