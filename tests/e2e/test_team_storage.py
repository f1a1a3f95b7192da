"""What a team shares: runs in an MLflow tracking server (artefacts proxied through it, users and passwords by
MLflow's basic-auth app, as docs/team.md sets it up) and DVC outputs in a remote.

Real `mlflow server`, real `dvc repro`, `dvc push` and `dvc pull`; the tiny model, a few hundred rows.
"""
from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.mlflow_server import ADMIN, mlflow_server
from tests.helpers.project import compose_params, run

TINY = ["data.max_rows=200", "train.epochs=1", "train.batch_size=16"]


def test_pipeline_logs_to_a_tracking_server_and_shares_outputs_through_a_dvc_remote(tmp_path, project, tiny_model_dir,
                                                                                      monkeypatch):
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    with mlflow_server(server_dir / "mlflow.db", server_dir, proxied_artifacts=server_dir / "artifacts",
                       auth=True) as url:
        with pytest.raises(urllib.error.HTTPError, match="401"):  # the basic-auth app: no password, no runs
            urllib.request.urlopen(f"{url}/api/2.0/mlflow/experiments/search?max_results=1", timeout=10)
        cfg = compose_params(project, "mlflow=server", f"mlflow.tracking_uri={url}",
                             f"model.name_or_path={tiny_model_dir}", *TINY)
        assert cfg["mlflow"]["tracking_uri"] == url and cfg["mlflow"]["log_model"] is True
        credentials = {"MLFLOW_TRACKING_USERNAME": ADMIN[0], "MLFLOW_TRACKING_PASSWORD": ADMIN[1]}
        run(["dvc", "repro", "evaluate"], project, **credentials)

        run_id = json.loads((project / "models/mlflow_run.json").read_text())["run_id"]
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
        mlrun = MlflowClient(url).get_run(run_id)
        assert mlrun.info.status == "FINISHED" and mlrun.data.params["train.epochs"] == "1"
        assert "test/accuracy" in mlrun.data.metrics and "val/accuracy" in mlrun.data.metrics
    # the model went through the server into its artefact store; nothing was written to a local store
    uploaded = {p.name for p in (server_dir / "artifacts").rglob("*") if p.is_file()}
    assert {"model.safetensors", "config.json"} <= uploaded, sorted(uploaded)[:20]
    assert not (project / "mlflow.db").exists() and not (project / "mlartifacts").exists()

    # a teammate's checkout: the same commit, outputs pulled from the remote instead of recomputed
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "add", "--default", "team", str(remote)], project)
    run(["dvc", "push", "--with-deps", "evaluate"], project)  # compress was not run here
    before = (project / "models/finetuned/model.safetensors").read_bytes()
    for out in ("data/clean", "data/tokenized", "models/finetuned"):
        shutil.rmtree(project / out)
    shutil.rmtree(project / ".dvc" / "cache")
    run(["dvc", "pull", "--with-deps", "evaluate"], project)
    assert (project / "models/finetuned/model.safetensors").read_bytes() == before
    assert "up to date" in run(["dvc", "status", "--with-deps", "evaluate"], project).stdout.lower()
