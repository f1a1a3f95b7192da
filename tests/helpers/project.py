"""Run the project's commands as a user would: in a copy of the project, in a clean environment."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from ftpipe import ROOT

STAGES = ["clean", "augment", "tokenize", "train", "evaluate", "compress"]  # dvc.yaml's order


def stage_env(**extra: str) -> dict[str, str]:
    """This environment with the venv first on PATH and no leaked tracking URI or params file; an empty value
    removes a variable (PYTHONPATH stays, empty, so a copy imports its own code)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": "",
           "MLFLOW_TRACKING_URI": "", "FTPIPE_PARAMS": "", **extra}
    return {k: v for k, v in env.items() if v != "" or k == "PYTHONPATH"}


def run(cmd: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=stage_env(**env), capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-5000:]}")
    return result


def run_stage(name: str, cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """`python -m stages.<name>` in `cwd`, as `dvc repro` runs it."""
    return run([sys.executable, "-m", f"stages.{name}"], cwd, check, **env)


def compose_params(cwd: Path, *overrides: str) -> dict:
    """Write cwd/params.yaml composed from the project's conf/ with overrides (as `make params` does)."""
    run([sys.executable, "-m", "ftpipe.config.compose", *overrides], cwd)
    return yaml.safe_load((cwd / "params.yaml").read_text())


def run_clean(project: Path, path: Path, *overrides: str) -> subprocess.CompletedProcess:
    """The clean command on the user file `path` (data=custom), not checked: the caller reads its exit code."""
    compose_params(project, "data=custom", f"data.path={path}", *overrides)
    return run_stage("clean", project, check=False)


__all__ = ["ROOT", "STAGES", "compose_params", "run", "run_clean", "run_stage", "stage_env"]
