"""A sweep of real DVC experiments, each nested in one MLflow parent run."""
from __future__ import annotations

import json
import sys

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.helpers.project import compose_params, run


@pytest.mark.slow
def test_sweep_runs_real_dvc_experiments_nested_in_mlflow(project, tiny_model_dir):
    """Two jobs on the tiny model: DVC experiments carry their metrics; MLflow nests the runs.

    The workspace has already trained job 1's exact config, so DVC skips train for it: the sweep
    must still give that job a run of its own (it forces a retrain).
    """
    base = ["data.max_rows=200", f"model.name_or_path={tiny_model_dir}", "mlflow.log_model=false"]
    compose_params(project, *base, "train.lr=1e-4")
    run(["git", "add", "-A"], project)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "project"], project)
    run(["dvc", "repro", "evaluate"], project)
    before = json.loads((project / "models/mlflow_run.json").read_text())["run_id"]

    result = run([sys.executable, "-m", "ftpipe.experiments.sweep", "train.lr=1e-4,3e-4", *base, "--name", "t",
                  "--apply-best"],
                 project)                                   # fails (exit 2) if any job failed
    assert "retraining with --force" in result.stderr

    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    exps = {e["name"]: e for commit in shown for e in commit.get("experiments") or [] if e.get("name")}
    names = sorted(n for n in exps if n.startswith("t-"))
    assert len(names) == 2 and names[0].endswith("-01")
    for name in names:
        data = exps[name]["revs"][0]["data"]
        assert "accuracy" in data["metrics"]["metrics/metrics.json"]["data"], name   # metrics travel with the exp

    client = MlflowClient(f"sqlite:///{project}/mlflow.db")
    parent = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                "tags.`sweep.role` = 'parent'")[0]
    kids = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert parent.info.status == "FINISHED" and len(kids) == 2 and before not in {k.info.run_id for k in kids}
    assert {k.data.tags["sweep.exp"] for k in kids} == set(names)
    assert all(k.info.status == "FINISHED" and "test/accuracy" in k.data.metrics for k in kids)
    assert sorted(k.data.params["train.lr"] for k in kids) == ["0.0001", "0.0003"]
    best = client.get_run(parent.data.tags["sweep.best_run_id"])
    assert best.info.run_id in {k.info.run_id for k in kids}
    assert best.data.metrics["val/best_macro_f1"] == max(k.data.metrics["val/best_macro_f1"] for k in kids)
    applied = yaml.safe_load((project / "params.yaml").read_text())["train"]["lr"]   # --apply-best
    assert applied == float(best.data.params["train.lr"])
    out = project / "reports/sweeps" / parent.data.tags["sweep.name"]
    assert (out / "summary.md").is_file() and len((out / "runs.csv").read_text().splitlines()) == 3
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"summary.md", "runs.csv"}
