"""Data-parallel training: collectives on a real 2-process gloo group, `train` under torchrun and with train.nproc;
batch sharding is in unit/test_ddp_shards.py."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from ftpipe.infra.errors import PipelineError
from ftpipe.training import distributed as ddp
from ftpipe.training.batching import TokenSplit
from tests.helpers.faults import inside, make_workspace, train_report
from tests.helpers.mlflow_server import free_port
from tests.helpers.project import compose_params, run, run_stage, stage_env

TINY = ["data.max_rows=200", "train.epochs=1", "train.batch_size=8", "train.eval_batch_size=64", "train.num_threads=1",
        "train.log_every_steps=1", "mlflow.log_model=false"]


def _collectives(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    ddp.init(torch.device("cpu"))
    counters = {"loss_sum": 1.5 * (rank + 1), "loss_n": rank + 2, "other": rank}
    totals = ddp.pool(counters, ("loss_sum", "loss_n"))
    again = ddp.pool(counters, ("loss_sum", "loss_n"))  # pooling twice must not count anything twice
    result = {"totals": totals, "kept": counters, "again": again, "backend": ddp.backend(),
              "one_false": ddp.all_true(rank == 0), "all_true": ddp.all_true(True), "mean": ddp.mean(float(rank)),
              "broadcast": ddp.broadcast(f"from rank {rank}")}
    with open(os.path.join(out, f"{rank}.json"), "w") as f:
        json.dump(result, f)
    ddp.close()


def test_collectives_on_a_real_two_process_gloo_group(tmp_path):
    torch.multiprocessing.spawn(_collectives, args=(2, free_port(), str(tmp_path)), nprocs=2)
    r0, r1 = (json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2))
    assert r0["totals"] == r1["totals"] == {"loss_sum": 4.5, "loss_n": 5}
    assert r0["kept"] == {"loss_sum": 4.5, "loss_n": 5, "other": 0}   # rank 0 carries the totals
    assert r1["kept"] == {"loss_sum": 0.0, "loss_n": 0, "other": 1}   # the others restart from 0
    assert r0["again"] == r1["again"] == {"loss_sum": 4.5, "loss_n": 5}
    for r in (r0, r1):
        assert r["backend"] == "gloo" and r["one_false"] is False and r["all_true"] is True and r["mean"] == 0.5
        assert r["broadcast"] == "from rank 0"


def test_a_world_of_one_joins_a_process_group_only_when_asked(monkeypatch):
    """FTPIPE_DDP_WORLD_OF_ONE is how bench/gpu_check.sh runs DDP over nccl on one GPU; here gloo on CPU."""
    monkeypatch.delenv(ddp.SOLO_ENV, raising=False)
    for key, value in dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                           MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(key, value)
    ddp.init(torch.device("cpu"))
    assert not ddp.active()  # plain world of one: exactly as a single process
    monkeypatch.setenv(ddp.SOLO_ENV, "1")
    try:
        ddp.init(torch.device("cpu"))
        assert ddp.active() and ddp.backend() == "gloo" and ddp.mean(3.0) == 3.0 and ddp.gather("x") == ["x"]
        model = torch.nn.Linear(2, 1)
        assert isinstance(ddp.wrap(model, torch.device("cpu")), torch.nn.parallel.DistributedDataParallel)
    finally:
        ddp.close()
    assert not ddp.active()


def test_more_processes_than_training_batches_is_a_one_line_error_naming_the_key(tmp_path, tiny_model_dir,
                                                                                   monkeypatch):
    root = make_workspace(tmp_path / "ws", tiny_model_dir, n_train=20)  # 20 rows, batch 8: 3 batches
    monkeypatch.setenv("WORLD_SIZE", "4")
    with inside(root), pytest.raises(PipelineError) as raised:
        from stages import train
        train.main()
    message = str(raised.value)
    assert message.startswith("train.batch_size: 4 processes need at least 4 training batches") and "\n" not in message
    assert not ddp.active()  # refused before joining any process group


def torchrun(cwd, nproc: int, **env: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                "-m", "stages.train"], cwd, **env)


def test_torchrun_two_processes_give_the_single_process_outputs_in_half_the_steps(tmp_path, project, tiny_model_dir):
    compose_params(project, *TINY, f"model.name_or_path={tiny_model_dir}")
    for stage in ("clean", "augment", "tokenize"):
        run_stage(stage, project)
    single = tmp_path / "single"
    shutil.copytree(project, single)
    run_stage("train", single)

    digests = tmp_path / "digests"
    done = torchrun(project, 2, FTPIPE_DDP_DIGEST_DIR=str(digests))
    assert "DDP: 2 processes (gloo); global batch 16 = 8 per process x 2 x 1 accumulation" in done.stderr

    # the same outputs as one process
    for path in ("models/finetuned/model.safetensors", "models/finetuned/labels.json", "plots/train_curves.csv",
                 "reports/train/curves.png", "models/mlflow_run.json"):
        assert (project / path).is_file(), path
    ddp_report, single_report = (json.loads((d / "metrics/train.json").read_text()) for d in (project, single))
    assert ddp_report.keys() == single_report.keys() and ddp_report["epochs_run"] == 1
    from transformers import AutoModelForSequenceClassification
    saved = AutoModelForSequenceClassification.from_pretrained(project / "models/finetuned")

    # both ranks ended with the same weights, and rank 0 saved exactly those
    rank_digests = {p.name: p.read_text().strip() for p in digests.iterdir()}
    assert set(rank_digests) == {"rank-0.sha256", "rank-1.sha256"}
    assert len(set(rank_digests.values())) == 1
    assert ddp.digest(saved) == rank_digests["rank-0.sha256"]

    # each step consumed one batch per rank: half the single-process steps (rounded up)
    steps = [len(pd.read_csv(d / "plots/train_steps.csv")) for d in (single, project)]
    n_train = len(TokenSplit.load(project / "data/tokenized/train").labels)
    assert steps[0] == math.ceil(n_train / 8) and steps[1] == math.ceil(steps[0] / 2), steps

    # one MLflow run, logged by rank 0 alone
    client = MlflowClient(f"sqlite:///{project}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("finetune").experiment_id])
    assert len(runs) == 1
    run_ = runs[0]
    assert run_.info.status == "FINISHED" and run_.info.run_id == json.loads(
        (project / "models/mlflow_run.json").read_text())["run_id"]
    assert run_.data.tags["train.world_size"] == "2" and run_.data.tags["train.backend"] == "gloo"
    assert run_.data.params["train.world_size"] == "2" and run_.data.params["train.global_batch_size"] == "16"
    assert len(client.get_metric_history(run_.info.run_id, "train/step_loss")) == steps[1]


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc): torchrun starts each worker in a session of its own."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def checkpoint_steps(root) -> set[str]:
    return {p.parent.name for p in (root / "models/checkpoints").glob("step-*/state.pt")}


@pytest.mark.slow  # three 2-process trainings: about a minute and a half on a quiet 2-core machine
def test_killed_ddp_training_resumes_to_exactly_the_uninterrupted_result(tmp_path, project, tiny_model_dir):
    """Rank 0 saves, every rank loads its own random state, the pooled tallies are not counted twice."""
    import signal
    import time

    root = make_workspace(project, tiny_model_dir, "train.epochs=2", "train.checkpoint.every_steps=3",
                          "train.checkpoint.keep=2")
    reference = tmp_path / "reference"
    shutil.copytree(root, reference)
    torchrun(reference, 2)

    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "stages.train"], cwd=root, env=stage_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not checkpoint_steps(root):
        assert proc.poll() is None, f"training ended before a checkpoint:\n{proc.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    for pid in [*children(proc.pid), proc.pid]:  # both workers and the launcher, mid-epoch
        os.kill(pid, signal.SIGKILL)
    proc.communicate()
    assert not (root / "metrics/train.json").exists()

    resumed = torchrun(root, 2)
    assert "resuming from epoch 0, batch" in resumed.stderr, resumed.stderr[-2000:]
    for same in ("plots/train_curves.csv", "plots/train_steps.csv", "models/finetuned/model.safetensors"):
        assert (root / same).read_bytes() == (reference / same).read_bytes(), same
    assert train_report(root) == train_report(reference)


def test_train_nproc_starts_the_workers_from_the_plain_stage_command(tmp_path, project, tiny_model_dir):
    """`python -m stages.train` with train.nproc=2 (what `dvc repro` runs): gradual unfreezing changes which
    parameters train each epoch, so DDP must be rebuilt, and accumulation skips the all-reduce in between."""
    root = make_workspace(project, tiny_model_dir, "train.nproc=2", "train.epochs=2",
                          "train.gradual_unfreezing=true", "train.grad_accum_steps=2", "train.log_every_steps=1")
    digests = tmp_path / "digests"
    run_stage("train", root, FTPIPE_DDP_DIGEST_DIR=str(digests))
    assert len({p.read_text() for p in digests.iterdir()}) == 1 and len(list(digests.iterdir())) == 2
    # 200 rows / batch 8 = 25 batches, 13 per rank, 7 steps of 2 per epoch
    assert len(pd.read_csv(root / "plots/train_steps.csv")) == 2 * 7
    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    (run_,) = client.search_runs([client.get_experiment_by_name("finetune").experiment_id])
    assert run_.data.tags["train.world_size"] == "2" and run_.data.params["train.global_batch_size"] == "32"


def test_train_nproc_above_the_batch_count_fails_before_starting_workers(project, tiny_model_dir):
    root = make_workspace(project, tiny_model_dir, "train.nproc=2", n_train=8)  # one batch of 8
    failed = run_stage("train", root, check=False)
    assert failed.returncode == 2
    assert failed.stderr.strip() == ("error: train.batch_size: 2 processes need at least 2 training batches, but 8 "
                                     "rows make 1 of 8; lower train.batch_size or start fewer processes")
