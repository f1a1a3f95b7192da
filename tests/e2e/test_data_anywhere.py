"""A data file anywhere is a DVC dependency of clean: `dvc exp run -S data.path=...` (DVC's own Hydra composition,
with the project's resolver plugin) puts it in data.dvc_deps and dvc.lock, and editing it in place reruns clean."""
from __future__ import annotations

import json

import pandas as pd
import yaml

from tests.helpers.data import sentiment_rows
from tests.helpers.project import run


def clean_deps(project) -> list[str]:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return [dep["path"] for dep in lock["stages"]["clean"]["deps"]]


def test_a_source_outside_the_project_is_tracked_and_an_edit_reruns_clean(project, tmp_path):
    source = tmp_path / "elsewhere" / "reviews.csv"
    source.parent.mkdir()
    pd.DataFrame(sentiment_rows(30)).to_csv(source, index=False)  # 60 rows, two classes
    assert not source.is_relative_to(project)
    run(["git", "add", "-A"], project)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "project"], project)

    run(["dvc", "exp", "run", "-S", "data=custom", "-S", f"data.path={source}", "clean"], project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["data"]["path"] == str(source)
    assert params["data"]["dvc_deps"] == {"path": str(source), "validation_path": "data/raw", "test_path": "data/raw"}
    assert str(source) in clean_deps(project) and "data/raw" in clean_deps(project)
    assert json.loads((project / "metrics/clean.json").read_text())["rows_kept"] == 60

    more = [{"text": f"an extra {word} film, number {i}", "label": label}
            for i in range(10) for word, label in (("superb", "pos"), ("dreadful", "neg"))]
    pd.DataFrame(sentiment_rows(30) + more).to_csv(source, index=False)  # edited in place: 80 rows
    status = run(["dvc", "status", "clean"], project).stdout
    assert "modified" in status and str(source) in status, status
    assert "Running stage 'clean'" in run(["dvc", "repro", "clean"], project).stdout
    assert json.loads((project / "metrics/clean.json").read_text())["rows_kept"] == 80
    assert "Running stage 'clean'" not in run(["dvc", "repro", "clean"], project).stdout  # now up to date


def test_a_params_yaml_composed_by_dvc_exp_run_is_checked_by_the_schema(project):
    """DVC composes params.yaml with Hydra itself, not with the project's compose helper: the stage still refuses
    a wrong type or a key added with `+`, in one line naming the key."""
    run(["git", "add", "-A"], project)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "project"], project)
    cases = {"train.freeze_embeddings=no": "error: train.freeze_embeddings: expected true or false (unquoted)",
             "+train.lrr=0.1": "error: train.lrr: unknown key; did you mean train.lr?"}
    for override, expected in cases.items():
        result = run(["dvc", "exp", "run", "-S", override, "clean"], project, check=False)
        assert result.returncode != 0
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error: train.")]
        assert len(lines) == 1 and lines[0].startswith(expected), result.stderr[-2000:]
        assert "Traceback" not in result.stderr + result.stdout
        assert not (project / "data/clean").exists()  # refused before anything was written
