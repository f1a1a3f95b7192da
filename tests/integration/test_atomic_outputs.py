"""Atomic outputs: a stage killed while writing leaves its previous good output (or none), never a partial one.
(atomic_path in-process: unit/test_atomic_path.py.)"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ftpipe.experiments.workspace import CODE
from ftpipe.infra.io import write_json
from tests.helpers.project import ROOT, STAGES, compose_params, run_stage, stage_env


def tree_digest(path: Path) -> str | None:
    """A digest of a file or of a directory's names and bytes; None when absent."""
    if not path.exists():
        return None
    digest = hashlib.sha256()
    for item in sorted([path] if path.is_file() else path.rglob("*")):
        if item.is_file():
            digest.update(str(item.relative_to(path.parent)).encode() + item.read_bytes())
    return digest.hexdigest()


def test_a_sigkilled_writer_leaves_the_old_output_and_its_leftovers_are_swept(tmp_path):
    dest = tmp_path / "metrics.json"
    write_json(dest, {"good": 1})
    script = ("import os, signal, sys\nfrom ftpipe.infra.io import atomic_path\n"
              "with atomic_path(sys.argv[1]) as tmp:\n    tmp.write_text('{\"par')\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([sys.executable, "-c", script, str(dest)], cwd=ROOT, env=stage_env())
    assert killed.returncode == -9
    assert json.loads(dest.read_text()) == {"good": 1}
    assert any(p.name.startswith(".tmp-metrics.json-") for p in tmp_path.iterdir())  # the dead writer's temp
    write_json(dest, {"good": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # swept by the next write


# ---- every stage, killed for real at the moment it is about to publish its main output (slow) -------------
# In the stage's own process, os.replace and the directory swap are wrapped: the first commit onto (or into)
# KILL_AT sends SIGKILL first (the temp fully written, the rename not yet done); every commit is logged to COMMITS.
LAUNCHER = """
import json, os, runpy, signal, sys
import ftpipe.infra.io as io
kill_at, log = os.environ.get("KILL_AT"), os.environ["COMMITS"]
def guard(commit):
    def wrapped(src, dst, *args):
        target = os.path.abspath(dst)
        if kill_at and (target == kill_at or target.startswith(kill_at + os.sep)):
            os.kill(os.getpid(), signal.SIGKILL)
        with open(log, "a") as f:
            f.write(json.dumps([os.path.abspath(src), os.path.abspath(dst)]) + "\\n")
        return commit(src, dst, *args)
    return wrapped
os.replace, io.exchange = guard(os.replace), guard(io.exchange)
runpy.run_module("stages." + sys.argv[1], run_name="__main__")
"""


def declared_outputs(stage: str) -> tuple[list[str], list[str]]:
    """(outputs, persistent outputs) of a stage in dvc.yaml: outs, metrics and plots."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    outs, persist = [], []
    for kind in ("outs", "metrics", "plots"):
        for item in spec.get(kind, []):
            path, opts = (item, {}) if isinstance(item, str) else next(iter(item.items()))
            (persist if (opts or {}).get("persist") else outs).append(path)
    return outs, persist


def launch(project: Path, stage: str, commits: Path, kill_at: Path | None = None) -> subprocess.CompletedProcess:
    env = stage_env(COMMITS=str(commits), **({"KILL_AT": str(kill_at)} if kill_at else {}))
    return subprocess.run([sys.executable, "-c", LAUNCHER, stage], cwd=project, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def built_project(tmp_path_factory, tiny_model_dir):
    """A project where every stage has run once on the tiny model (the 'previous good output')."""
    import shutil

    project = tmp_path_factory.mktemp("atomic") / "project"
    for name in (*CODE, "conf", "dvc.yaml", "params.yaml", "pyproject.toml"):
        src = ROOT / name
        shutil.copytree(src, project / name) if src.is_dir() else shutil.copy2(src, project / name)
    compose_params(project, "data.max_rows=200", f"model.name_or_path={tiny_model_dir}", "train.epochs=1",
                   "train.batch_size=16", "mlflow.log_model=false", "compress.latency.repeats=3",
                   "compress.distill.layers=1")
    for stage in STAGES:
        run_stage(stage, project)
    return project


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_killed_before_publishing_leaves_the_previous_output(built_project, stage):
    project = built_project
    outs, _ = declared_outputs(stage)  # persistent ones (checkpoints) are written piecewise, by design
    before = {out: tree_digest(project / out) for out in outs}
    assert all(before.values()), before
    main_out = project / outs[0]
    commits = project / f"commits-{stage}.jsonl"

    killed = launch(project, stage, commits, kill_at=main_out)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert tree_digest(main_out) == before[outs[0]], f"{outs[0]} changed although its commit never happened"
    leftovers = [p.name for p in main_out.parent.iterdir() if p.name.startswith(f".tmp-{main_out.name}-")]
    assert leftovers, "the kill should have come while the new output sat complete in its temp"
    for out in outs[1:]:  # published before the kill, or still the old one: never half-written
        if out.endswith(".json"):
            json.loads((project / out).read_text())

    commits.unlink(missing_ok=True)
    rerun = launch(project, stage, commits)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    published = {json.loads(line)[1] for line in commits.read_text().splitlines()}
    for out in outs:  # every declared output is published by renames from temps, never written in place
        path = str(project / out)
        assert any(p == path or p.startswith(path + os.sep) for p in published), \
            f"{stage} writes {out} in place, not via atomic_path"
    assert not [p for p in main_out.parent.iterdir() if p.name.startswith((".tmp-", ".old-"))], "leftovers kept"
