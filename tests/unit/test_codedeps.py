"""Code deps: dvc.yaml lists every file each stage runs (derived from its imports by ftpipe.infra.codedeps), and
train's checkpoint fingerprint hashes exactly that code."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from ftpipe import ROOT
from ftpipe.infra.codedeps import PACKAGES, import_closure, missing_deps, stage_code, stage_deps
from ftpipe.training import checkpoints
from tests.helpers.config import train_cfg

DVC_STAGES = list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


def test_dvc_yaml_has_the_six_stages():
    assert DVC_STAGES == ["clean", "augment", "tokenize", "train", "evaluate", "compress"]


@pytest.mark.parametrize("stage", DVC_STAGES)
def test_each_stages_deps_cover_every_project_file_it_imports(stage):
    assert missing_deps(stage) == [], f"add these to {stage}'s deps in dvc.yaml (python -m ftpipe.infra.codedeps)"
    closure = import_closure(f"stages.{stage}")
    assert ROOT / f"stages/{stage}.py" in closure and ROOT / "ftpipe/__init__.py" in closure


@pytest.mark.parametrize("stage", DVC_STAGES)
def test_every_code_dep_in_dvc_yaml_exists(stage):
    code = [dep for dep in stage_deps(stage) if dep.split("/")[0] in PACKAGES]
    assert f"stages/{stage}.py" in code
    assert [dep for dep in code if not (ROOT / dep).exists()] == []


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def mini_project(tmp_path: Path) -> Path:
    """stages/x.py imports ftpipe/a.py at the top; a.py imports ftpipe/b.py inside a function and names ftpipe.c
    (run with `python -m`) in a string; dvc.yaml lists only the stage module and a.py."""
    write(tmp_path, {
        "dvc.yaml": "stages:\n  x:\n    cmd: python -m stages.x\n    deps: [stages/x.py, ftpipe/a.py, data/raw, "
                    "'${data.dvc_deps.path}']\n",
        "stages/__init__.py": "",
        "stages/x.py": "from ftpipe.a import work\n\nwork()\n",
        "ftpipe/__init__.py": '"""The mini library."""\n',
        "ftpipe/a.py": """
            import subprocess
            import sys


            def work():
                from ftpipe import b  # lazily, inside a function

                b.helper()
                subprocess.run([sys.executable, "-m", "ftpipe.c"], check=True)
            """,
        "ftpipe/b.py": "def helper():\n    return 1\n",
        "ftpipe/c.py": "print('c')\n",
        "ftpipe/unused.py": "import ftpipe.a\n",
    })
    return tmp_path


def test_missing_deps_reports_lazy_string_named_and_package_init_files(mini_project):
    root = mini_project
    assert stage_deps("x", root) == ["stages/x.py", "ftpipe/a.py", "data/raw"]  # the templated dep left out
    closure = {p.relative_to(root).as_posix() for p in import_closure("stages.x", root)}
    assert closure == {"stages/__init__.py", "stages/x.py", "ftpipe/__init__.py", "ftpipe/a.py", "ftpipe/b.py",
                       "ftpipe/c.py"}  # not ftpipe/unused.py, which nothing imports
    assert missing_deps("x", root) == ["ftpipe/__init__.py", "ftpipe/b.py", "ftpipe/c.py", "stages/__init__.py"]

    write(root, {"dvc.yaml": "stages:\n  x:\n    cmd: python -m stages.x\n    deps: [stages, ftpipe]\n"})
    assert missing_deps("x", root) == []  # folders cover what lies under them
    assert [p.relative_to(root).as_posix() for p in stage_code("x", root)] == [
        "ftpipe/__init__.py", "ftpipe/a.py", "ftpipe/b.py", "ftpipe/c.py", "ftpipe/unused.py", "stages/__init__.py",
        "stages/x.py"]


def test_stage_code_is_the_python_under_the_stages_code_deps():
    code = stage_code("train")
    assert ROOT / "stages/train.py" in code and ROOT / "ftpipe/training/loop.py" in code
    assert ROOT / "stages/evaluate.py" not in code and ROOT / "ftpipe/compression/distill.py" not in code
    assert all(p.suffix == ".py" and p.is_file() for p in code) and code == sorted(code)


def test_trains_checkpoint_fingerprint_hashes_stage_code_of_train(tmp_path, monkeypatch):
    cfg = OmegaConf.create({"seed": 1, "model": {"name_or_path": "m"}, "train": train_cfg()})
    real = checkpoints.training_fingerprint(cfg, 1, [])
    assert real == checkpoints.fingerprint(
        {k: v for k, v in checkpoints.flatten(cfg).items() if not k.startswith(checkpoints.NOT_RESUMABLE)},
        stage_code("train"))

    code = tmp_path / "loop.py"
    code.write_text("x = 1\n")
    asked = []
    monkeypatch.setattr(checkpoints, "stage_code", lambda stage: asked.append(stage) or [code])
    before = checkpoints.training_fingerprint(cfg, 1, [])
    assert asked == ["train"] and before != real
    code.write_text("x = 2\n")  # an edit to train's code
    assert checkpoints.training_fingerprint(cfg, 1, []) != before
    code.write_text("x = 1\n")
    assert checkpoints.training_fingerprint(cfg, 1, []) == before
