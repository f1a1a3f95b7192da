"""train under faults: SIGKILL mid-epoch then resume (bit-exact), NaN losses, early stopping, MLflow faults."""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from ftpipe.infra.errors import PipelineError
from tests.helpers.faults import inside, make_workspace, train_report
from tests.helpers.mlflow_server import free_port
from tests.helpers.models import poisoned_model
from tests.helpers.project import run_stage, stage_env

RESUME = ["train.epochs=2", "train.checkpoint.every_steps=5", "train.checkpoint.keep=2"]


def mlflow_client(root) -> MlflowClient:
    return MlflowClient(f"sqlite:///{root}/mlflow.db")


def recorded_run(root) -> str:
    import json
    return json.loads((root / "models/mlflow_run.json").read_text())["run_id"]


def checkpoints(root) -> set[str]:
    return {p.parent.name for p in (root / "models/checkpoints").glob("step-*/state.pt")}


def signal_after_new_checkpoint(root, sig: int, timeout: float = 300) -> subprocess.CompletedProcess:
    """Start `python -m stages.train`; send `sig` as soon as it has written a checkpoint of its own."""
    old = checkpoints(root)
    proc = subprocess.Popen([sys.executable, "-m", "stages.train"], cwd=root, env=stage_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not checkpoints(root) - old:
        assert proc.poll() is None, f"train ended before a new checkpoint:\n{proc.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    proc.send_signal(sig)
    _, stderr = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr)


@pytest.mark.slow  # four real train processes: about a minute on a quiet 2-core machine
@pytest.mark.parametrize("evals", [1, 3])  # 3: killed and resumed between validations inside an epoch
def test_killed_training_resumes_to_exactly_the_uninterrupted_result(project, tmp_path, tiny_model_dir, evals):
    make_workspace(project, tiny_model_dir, *RESUME, f"train.evals_per_epoch={evals}", n_train=480)
    reference = tmp_path / "reference"
    shutil.copytree(project, reference)
    run_stage("train", reference)

    killed = signal_after_new_checkpoint(project, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert not (project / "metrics/train.json").exists() and not (project / "models/finetuned").exists()
    run_id = recorded_run(project)
    assert mlflow_client(project).get_run(run_id).info.status == "RUNNING"  # nobody could close it

    stopped = signal_after_new_checkpoint(project, signal.SIGTERM)  # resumes, then is stopped politely
    assert stopped.returncode == 130 and stopped.stderr.strip().endswith("error: interrupted"), stopped.stderr
    assert "resuming from" in stopped.stderr
    assert mlflow_client(project).get_run(run_id).info.status == "FAILED"

    resumed = run_stage("train", project)
    where = re.search(r"resuming from epoch (\d+), batch (\d+)", resumed.stderr)
    assert where, resumed.stderr[-2000:]
    assert where.group(1) == "0" and 0 < int(where.group(2)) < 60  # mid-epoch: 480 rows / batch 8

    assert train_report(project) == train_report(reference)
    for same in ("plots/train_curves.csv", "plots/train_steps.csv", "models/finetuned/model.safetensors"):
        assert (project / same).read_bytes() == (reference / same).read_bytes(), same
    assert len(list((project / "models/checkpoints").glob("step-*"))) == 2  # pruned to train.checkpoint.keep
    # every attempt logged to the same MLflow run, which ends FINISHED, not RUNNING beside a new one
    assert recorded_run(project) == run_id
    assert mlflow_client(project).get_run(run_id).info.status == "FINISHED"


def test_a_finished_runs_checkpoint_resumes_only_under_the_same_code(project, tiny_model_dir):
    make_workspace(project, tiny_model_dir, n_train=48)
    assert "resuming from" not in run_stage("train", project).stderr
    assert "resuming from" in run_stage("train", project).stderr  # same code and params: its last checkpoint
    with open(project / "stages" / "train.py", "a") as code:  # an edit, as a user fixing the loop would make
        code.write("\n# edited\n")
    assert "resuming from" not in run_stage("train", project).stderr  # trained again, not handed the old model


def test_nonfinite_loss_stops_with_a_clear_error_and_a_failed_run(tmp_path, tiny_model_dir):
    model = poisoned_model(tiny_model_dir, tmp_path / "nan-model", "banana")
    root = make_workspace(tmp_path / "ws", model, marker="banana")
    with inside(root), pytest.raises(PipelineError) as raised:
        from stages import train
        train.main()
    message = str(raised.value)
    assert re.search(r"loss became nan at step \d+ \(epoch 1, batch \d+, lr \S+\)", message), message
    assert "train.nonfinite_loss=skip" in message and "\n" not in message
    run = mlflow_client(root).get_run(recorded_run(root))
    assert run.info.status == "FAILED" and "loss became nan" in run.data.tags["error"]
    assert not (root / "models/finetuned").exists() and not (root / "metrics/train.json").exists()


def test_nonfinite_loss_skip_drops_only_the_bad_batches(tmp_path, tiny_model_dir):
    model = poisoned_model(tiny_model_dir, tmp_path / "nan-model", "banana")
    root = make_workspace(tmp_path / "ws", model, "train.nonfinite_loss=skip", marker="banana", every=40)
    with inside(root):
        from stages import train
        train.main()
    report = train_report(root)
    assert 0 < report["skipped_steps"] < 25  # 200 rows / batch 8 = 25 batches, a few hold the marker
    assert 0 <= report["val_loss"] < 10 and 0 <= report["val_accuracy"] <= 1
    assert mlflow_client(root).get_run(recorded_run(root)).info.status == "FINISHED"


def test_skip_still_fails_when_every_batch_is_nonfinite(tmp_path, tiny_model_dir):
    model = poisoned_model(tiny_model_dir, tmp_path / "nan-model", "banana")
    root = make_workspace(tmp_path / "ws", model, "train.nonfinite_loss=skip", marker="banana", every=1)
    with inside(root), pytest.raises(PipelineError, match="every batch of epoch 1 had a non-finite loss"):
        from stages import train
        train.main()


def test_no_improvement_stops_early(tmp_path, tiny_model_dir):
    # a threshold of 1.0 can never be beaten, so every epoch after the first counts as bad
    root = make_workspace(tmp_path / "ws", tiny_model_dir, "train.epochs=4", "train.early_stopping.patience=2",
                          "train.early_stopping.threshold=1.0")
    with inside(root):
        from stages import train
        train.main()
    report = train_report(root)
    assert report["epochs_run"] == 3 and report["stopped_early"] is True and report["best_epoch"] == 1


def test_validating_twice_an_epoch_keeps_stops_and_logs_at_half_epochs(tmp_path, tiny_model_dir):
    # the threshold can never be beaten: the first validation (half-way through epoch 1) stays the best, and two
    # more without a gain stop the training half-way through epoch 2
    root = make_workspace(tmp_path / "ws", tiny_model_dir, "train.epochs=3", "train.evals_per_epoch=2",
                          "train.early_stopping.patience=2", "train.early_stopping.threshold=1.0", n_train=192)
    with inside(root):
        from stages import train
        train.main()
    report = train_report(root)
    assert report["best_epoch"] == 0.5 and report["epochs_run"] == 1.5 and report["stopped_early"] is True
    curves = (root / "plots/train_curves.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in curves] == ["epoch", "0.5", "1.0", "1.5"]
    history = mlflow_client(root).get_metric_history(recorded_run(root), "val/macro_f1")
    assert [m.step for m in history] == [1, 2, 3]  # one MLflow step per validation


def test_unreachable_tracking_server_fails_before_training(tmp_path, tiny_model_dir, monkeypatch):
    root = make_workspace(tmp_path / "ws", tiny_model_dir)
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with inside(root), pytest.raises(PipelineError) as raised:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        started = time.monotonic()
        from stages import train
        train.main()
    assert time.monotonic() - started < 20
    assert f"MLflow tracking server {uri} is unreachable" in str(raised.value)
    assert "mlflow.fallback_to_local=true" in str(raised.value)
    assert not (root / "models").exists() and not (root / "mlflow.db").exists()


def test_unreachable_tracking_server_falls_back_to_local_store_when_allowed(tmp_path, tiny_model_dir, monkeypatch):
    root = make_workspace(tmp_path / "ws", tiny_model_dir, "mlflow.fallback_to_local=true")
    with inside(root):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")  # nothing listens
        from stages import train
        train.main()
    assert mlflow_client(root).get_run(recorded_run(root)).info.status == "FINISHED"


def test_a_run_left_running_by_a_killed_stage_is_closed_by_the_next_train(tmp_path, tiny_model_dir):
    import json

    from omegaconf import OmegaConf

    from ftpipe.tracking.runs import RUN_FILE, configure, start_train_run

    root = make_workspace(tmp_path / "ws", tiny_model_dir)
    with inside(root):
        cfg = OmegaConf.load("params.yaml")
        client = MlflowClient(f"sqlite:///{root}/mlflow.db")
        configure(cfg)
        orphan = client.create_run(client.get_experiment_by_name("finetune").experiment_id).info.run_id
        RUN_FILE.parent.mkdir(parents=True)
        RUN_FILE.write_text(json.dumps({"run_id": orphan}))
        with start_train_run(cfg, {}) as run:
            assert run.info.run_id != orphan
    assert client.get_run(orphan).info.status == "KILLED"
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
