"""train with the imbalance options: focal loss with balanced class weights end to end, and an empty class refused."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from ftpipe.infra.errors import PipelineError
from ftpipe.training.batching import load_tokenized, save_tokenized
from tests.helpers.faults import inside, make_workspace

IMBALANCED = ["train.loss=focal", "train.class_weights=balanced", "train.epochs=1"]


def keep_rows(root, keep) -> None:
    """Cut the train split (clean and tokenized, row for row) to the rows `keep(frame)` selects."""
    path = root / "data/clean/train.parquet"
    frame = pd.read_parquet(path)
    mask = keep(frame).to_numpy()
    frame[mask].reset_index(drop=True).to_parquet(path)
    ids, labels = load_tokenized(root / "data/tokenized/train")
    ids, labels = [list(map(int, x)) for x, m in zip(ids, mask) if m], labels[mask]  # copies: the file is rewritten
    save_tokenized(root / "data/tokenized/train", ids, labels)


def test_focal_loss_with_balanced_weights_trains_evaluates_and_logs(tmp_path, tiny_model_dir):
    root = make_workspace(tmp_path / "ws", tiny_model_dir, *IMBALANCED)
    keep_rows(root, lambda f: (f["label"] == 0) | (f.index < 80))  # 100 neg, 40 pos
    with inside(root):
        from stages import evaluate, train
        train.main()
        evaluate.main()
    report = json.loads((root / "metrics/train.json").read_text())
    assert report["class_weights"] == pytest.approx({"neg": 140 / (2 * 100), "pos": 140 / (2 * 40)})
    assert (root / "models/finetuned/model.safetensors").is_file()
    assert json.loads((root / "metrics/metrics.json").read_text())["per_class"]["pos"]["support"] == 20  # test: 40 rows
    run_id = json.loads((root / "models/mlflow_run.json").read_text())["run_id"]
    run = MlflowClient(f"sqlite:///{root}/mlflow.db").get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.loss"] == "focal" and run.data.params["train.class_weights"] == "balanced"
    assert run.data.params["train.focal_gamma"] == "2.0"


def test_balanced_weights_refuse_a_class_missing_from_train_before_training(tmp_path, tiny_model_dir):
    root = make_workspace(tmp_path / "ws", tiny_model_dir, *IMBALANCED)
    keep_rows(root, lambda f: f["label"] == 0)
    with inside(root), pytest.raises(PipelineError) as raised:
        from stages import train
        train.main()
    assert str(raised.value).startswith("train.class_weights=balanced: class 'pos' has no rows in the train split")
    assert "\n" not in str(raised.value)
    assert not (root / "models").exists()
