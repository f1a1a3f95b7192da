"""The Hydra app over the whole pipeline (ftpipe.experiments.multirun): its config is the pipeline's, and an
evaluation restored from DVC's run cache still reaches the job's MLflow run."""
from __future__ import annotations

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ftpipe import ROOT


def test_app_config_is_the_pipeline_config_plus_the_callback():
    from ftpipe.config.compose import compose_config
    from ftpipe.experiments.multirun import _pipeline_cfg

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        app = compose("multirun", overrides=["train.lr=3e-5", "seed=7"], return_hydra_config=True)
    assert app.hydra.callbacks.ftpipe_sweep._target_ == "ftpipe.experiments.multirun.SweepCallback"
    params = _pipeline_cfg(app)
    assert params == compose_config(["train.lr=3e-5", "seed=7"])   # jobs get exactly what `make params` writes
    assert "hydra" not in OmegaConf.to_container(params)


def test_an_evaluation_restored_from_the_run_cache_still_reaches_the_jobs_run(tmp_path):
    import json

    from mlflow.tracking import MlflowClient

    from ftpipe.experiments.multirun import log_restored_evaluation

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    client.set_terminated(run_id, "FINISHED")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mlflow_run.json").write_text(json.dumps({"run_id": run_id}))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "metrics.json").write_text(json.dumps(
        {"accuracy": 0.83, "macro_f1": 0.82, "n": 10, "per_class": {"fresh": {"f1": 0.8}}}))
    log_restored_evaluation(tmp_path, uri)
    run = client.get_run(run_id)
    assert run.data.metrics == {"test/accuracy": 0.83, "test/macro_f1": 0.82, "test/n": 10, "test/class/fresh/f1": 0.8}
    assert "run cache" in run.data.tags["sweep.evaluate"]
    client.log_metric(run_id, "test/accuracy", 0.9)  # evaluate ran: nothing is overwritten
    log_restored_evaluation(tmp_path, uri)
    assert client.get_run(run_id).data.metrics["test/accuracy"] == 0.9
