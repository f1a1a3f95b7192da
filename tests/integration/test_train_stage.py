"""The train stage through the real stage commands with its rarer knobs turned."""
from __future__ import annotations

import json

from tests.helpers.project import compose_params, run_stage


def test_train_with_every_knob_turned(project, tiny_model_dir):
    """SGD + cosine + accumulation + lr decay + gradual unfreezing + early stopping, through the real stages."""
    compose_params(project, "data.max_rows=200", f"model.name_or_path={tiny_model_dir}", "train.epochs=3",
                   "train.optimizer=sgd", "train.scheduler=cosine", "train.grad_accum_steps=2",
                   "train.layerwise_lr_decay=0.8", "train.gradual_unfreezing=true", "train.batch_size=8",
                   "train.early_stopping.patience=1", "train.early_stopping.threshold=0.5",
                   "train.checkpoint.every_steps=5", "train.checkpoint.keep=1", "mlflow.log_model=false")
    for stage in ("clean", "augment", "tokenize", "train"):
        run_stage(stage, project)
    report = json.loads((project / "metrics/train.json").read_text())
    assert report["epochs_run"] == 2 and report["stopped_early"] and report["best_epoch"] == 1
    assert len(list((project / "models/checkpoints").iterdir())) == 1
    assert (project / "models/finetuned/model.safetensors").is_file()
