"""Sweeps and run comparison: Hydra grid expansion, a real MLflow store for ranking and for a stopped sweep's runs.
The sweep command is in integration/test_sweep_cli.py, real DVC experiments in e2e/test_sweep_dvc.py."""
from __future__ import annotations

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from ftpipe.experiments.grid import SPEC_DIR, SweepSpec, axes, check_jobs, expand, load_spec, with_cli
from ftpipe.experiments.ranking import compare_url
from ftpipe.experiments.report import sweep_report
from ftpipe.experiments.runner import open_parent
from ftpipe.infra.errors import PipelineError


def test_grid_is_the_product_of_hydra_sweep_values_and_cli_replaces_spec_axes(tmp_path):
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text("params:\n  train.lr: [1.0e-5, 3.0e-5]\n  seed: 1,2\nfixed: [train.epochs=2]\n")
    spec = with_cli(load_spec(str(spec_file)), ["seed=range(7,10)", "train.epochs=1", "train.batch_size=8"])
    jobs = expand(spec)
    assert len(jobs) == 6 and jobs[0] == ["train.lr=1e-05", "seed=7", "train.epochs=1", "train.batch_size=8"]
    assert [j[1] for j in jobs[:3]] == ["seed=7", "seed=8", "seed=9"]       # last axis varies fastest
    assert axes(spec) == ["train.lr", "seed"]                               # single values are not axes
    assert spec.fixed == []                                                 # CLI train.epochs replaced the spec's


@pytest.mark.parametrize("spec_file", sorted(SPEC_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_specs_compose_for_every_job(spec_file):
    jobs = expand(load_spec(spec_file.stem))
    assert len(jobs) >= 2
    check_jobs(jobs)


def test_bad_spec_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("params: {train.lr: [1, 2]}\nmode: best\n")
    with pytest.raises(PipelineError, match=r"bad.yaml: mode must be 'max' or 'min'"):
        load_spec(str(bad))
    bad.write_text("params: {train.lr: [1, 2]}\nmetrc: x\n")
    with pytest.raises(PipelineError, match=r"bad.yaml: unknown key\(s\) \['metrc'\]"):
        load_spec(str(bad))


def _child(parent_id: str, name: str, lr: float, seed: int, val: float | None, test: float, status="FINISHED"):
    with mlflow.start_run(run_name=name, parent_run_id=parent_id, nested=True) as r:
        mlflow.log_params({"train.lr": lr, "seed": seed, "train.epochs": 1})
        if val is not None:
            mlflow.log_metrics({"val/best_macro_f1": val, "test/accuracy": test})
        mlflow.set_tag("sweep.exp", name)
    if status != "FINISHED":
        MlflowClient().set_terminated(r.info.run_id, status)
    return r.info.run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A real sqlite MLflow store with one sweep: lr 1e-5 / 3e-5 x seed 1 / 2, plus one failed job."""
    tmp_path = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp = client.create_experiment("t", artifact_location=(tmp_path / "art").as_uri())
    spec = SweepSpec(params={"train.lr": "1e-5,3e-5", "seed": "1,2"})
    parent = open_parent(client, exp, "demo-1", spec, 5, ["train.lr", "seed"])
    mlflow.set_experiment(experiment_id=exp)
    ids = {"a": _child(parent, "demo-1-01", 1e-5, 1, 0.80, 0.95),
           "b": _child(parent, "demo-1-02", 1e-5, 2, 0.82, 0.93),
           "c": _child(parent, "demo-1-03", 3e-5, 1, 0.85, 0.70),
           "d": _child(parent, "demo-1-04", 3e-5, 2, 0.83, 0.72),
           "e": _child(parent, "demo-1-05", 1e-4, 1, None, 0, status="FAILED")}
    client.set_terminated(parent, "FINISHED")
    yield uri, client, parent, ids
    mlflow.set_tracking_uri("")


def test_report_ranks_on_validation_not_test_and_averages_over_seeds(store):
    uri, client, parent, ids = store
    report = sweep_report(client, client.get_run(parent))
    assert report.best["run_id"] == ids["c"]               # best validation F1, though its test accuracy is worst
    assert list(report.runs["run"]) == ["demo-1-03", "demo-1-04", "demo-1-02", "demo-1-01", "demo-1-05"]
    assert list(report.runs["status"])[-1] == "FAILED"
    groups = report.groups.set_index("train.lr")
    assert list(groups.index) == ["3e-05", "1e-05"]        # best mean first
    assert groups.loc["3e-05", "val/best_macro_f1 mean"] == pytest.approx(0.84)
    assert groups.loc["3e-05", "val/best_macro_f1 std"] == pytest.approx(0.0141421, rel=1e-4)
    assert groups.loc["1e-05", "val/best_macro_f1 count"] == 2   # the failed job is not averaged in
    assert "1 job(s) did not finish" in report.text and compare_url([ids["c"]], ["x"]).split("?")[0] in report.text


def _compare(capsys, *argv: str) -> tuple[int, str, str]:
    """`python -m ftpipe.experiments.compare ...` in-process (each subprocess would spend seconds importing MLflow)."""
    from ftpipe.experiments.compare import main
    from ftpipe.infra.stage import run_stage

    try:
        run_stage(lambda: main(list(argv)))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_compare_cli_sweep_and_runs(store, capsys, monkeypatch):
    uri, client, parent, ids = store
    monkeypatch.setenv("FTPIPE_NO_LOCK", "1")  # as `python -m ftpipe.experiments.compare` sets it: read-only, no lock
    listed = _compare(capsys, "sweeps", "--tracking-uri", uri)[1]
    assert "demo-1" in listed and parent in listed
    by_name = _compare(capsys, "sweep", "demo-1", "--tracking-uri", uri, "--metric", "test/accuracy")[1]
    assert "ranked by `test/accuracy` (max)" in by_name and "`demo-1-01`" in by_name.split("**Best run:**")[1][:30]
    table = _compare(capsys, "runs", ids["a"], ids["d"], "--tracking-uri", uri)[1]
    header = table.splitlines()[0]
    assert "train.lr" in header and "seed" in header and "train.epochs" not in header  # only what differs
    assert "Δ val/best_macro_f1" in header and "| 0.03 |" in table.splitlines()[3]
    code, _, err = _compare(capsys, "runs", ids["a"], "f" * 32, "--tracking-uri", uri)
    assert code == 2 and err == f"error: run '{'f' * 32}' is not in {uri}\n"
    code, _, err = _compare(capsys, "sweep", ids["a"], "--tracking-uri", uri)
    assert code == 2 and "is not a sweep's parent run" in err
    code, _, err = _compare(capsys, "runs", ids["a"], ids["d"], "--tracking-uri", uri, "--metric", "test_acc")
    assert code == 2 and "metric 'test_acc' is in none of these runs" in err


@pytest.mark.parametrize("exc, status, reason", [
    (KeyboardInterrupt("SIGTERM"), "KILLED", "interrupted (SIGTERM)"),
    (KeyboardInterrupt(), "KILLED", "interrupted (SIGINT)"),
    (RuntimeError("disk full"), "FAILED", "RuntimeError: disk full"),
])
def test_a_stopped_sweep_ends_its_parent_and_running_children(tmp_path, monkeypatch, exc, status, reason):
    from ftpipe.experiments.interrupts import aborting_parent_on_error

    monkeypatch.chdir(tmp_path)   # the report goes to ./reports/sweeps/
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.create_experiment("x")
    spec = SweepSpec(params={"train.lr": "1e-4,3e-4"})
    parent = open_parent(client, exp, "stopped", spec, 2, ["train.lr"])
    running = client.create_run(exp, tags={"mlflow.parentRunId": parent}).info.run_id
    done = client.create_run(exp, tags={"mlflow.parentRunId": parent}).info.run_id
    client.log_metric(done, "val/best_macro_f1", 0.5)
    client.set_terminated(done, "FINISHED")
    with pytest.raises(type(exc)), aborting_parent_on_error(client, parent, spec):
        raise exc
    assert (client.get_run(parent).info.status, client.get_run(parent).data.tags["error"]) == (status, reason)
    assert client.get_run(running).info.status == "KILLED"
    assert client.get_run(running).data.tags["error"] == f"its sweep stopped: {reason}"
    assert client.get_run(done).info.status == "FINISHED"
    assert "1 job(s) did not finish" in (tmp_path / "reports/sweeps/stopped/summary.md").read_text()
