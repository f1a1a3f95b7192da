"""Atomic file I/O: outputs appear complete or not at all, never half-written."""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from ftpipe.infra.swap import exchange


@contextmanager
def atomic_path(dest: str | Path, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `dest`; move it onto `dest` only if the block succeeds.

    The temporary lives in the same directory, so the final rename never crosses a filesystem.
    A killed process leaves the previous `dest` (or none) plus a `.tmp-*` sibling, never a partial `dest`;
    the next write to `dest` removes such leftovers. A directory is swapped in one atomic step.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{dest.name}-{os.getpid()}-", dir=dest.parent))
    target = tmp if is_dir else tmp / dest.name
    try:
        yield target
        if is_dir and dest.is_dir() and exchange(tmp, dest):
            pass  # swapped in one step; tmp now holds the old output, removed below
        elif is_dir:
            old = None
            if dest.exists():
                old = dest.with_name(f".old-{dest.name}-{os.getpid()}")
                os.replace(dest, old)
            os.replace(tmp, dest)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(target, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_temps(dest: Path) -> None:
    """Delete `.tmp-`/`.old-` siblings of `dest` left by processes that were killed (their pid is gone)."""
    pattern = re.compile(rf"^\.(?:tmp|old)-{re.escape(dest.name)}-(\d+)(?:-|$)")
    for sibling in dest.parent.iterdir():
        found = pattern.match(sibling.name)
        if found and not _alive(int(found.group(1))):
            shutil.rmtree(sibling, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_parquet(path: str | Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_csv(path: str | Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
