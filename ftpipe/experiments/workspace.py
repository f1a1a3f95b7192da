"""A scratch copy of the project (code, config, DAG, raw data) in its own git repository.

Tests and benchmarks run real `dvc repro` there, never in the user's workspace.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ftpipe import ROOT

CODE = ("stages", "ftpipe")  # the stage modules and the library they import: what a copy of the pipeline runs
PROJECT_FILES = (*CODE, "conf", "dvc.yaml", "params.yaml", "pyproject.toml", "data/raw", "data/samples",
                 ".dvc/config", ".dvcignore", ".gitignore")


def copy_project(dest: Path, root: Path = ROOT) -> Path:
    """Copy PROJECT_FILES from `root` to `dest` and make it a git repository with one commit."""
    for name in PROJECT_FILES:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", ".tmp-*"))
        elif src.exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    # committed, as in a clone: `dvc exp run --temp` (each sweep job) runs what git tracks, plus workspace changes
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=ftpipe", "-c", "user.email=ftpipe@localhost", "commit", "-q",
                 "--allow-empty", "-m", "scratch copy"]):
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)
    return dest
