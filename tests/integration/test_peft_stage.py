"""train.method=lora through the real stage commands: train, evaluate and compress read what it writes."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.data import sentiment_rows
from tests.helpers.models import TINY_HIDDEN as HIDDEN
from tests.helpers.models import TINY_LAYERS as LAYERS
from tests.helpers.project import compose_params, run_stage


@pytest.mark.slow  # three stages of LoRA on the tiny model: about 2 minutes (the unit tests cover the method itself)
def test_stages_with_lora_report_it_and_evaluate_and_compress_the_merged_model(project, tiny_model_dir):
    """Real stages in a project copy: train with LoRA writes the adapter and the merged model, and the
    unchanged evaluate and compress stages read it; MLflow has the trainable share."""
    pd.DataFrame(sentiment_rows(60)).to_csv(project / "data/raw/train.csv", index=False)
    compose_params(project, "data=custom", f"model.name_or_path={tiny_model_dir}", "train/method=lora",
                   "train.batch_size=16", "compress.latency.repeats=3", "compress.variants=[fp32,torch_int8]")
    for stage in ("clean", "augment", "tokenize", "train", "evaluate", "compress"):
        run_stage(stage, project)
    report = json.loads((project / "metrics/train.json").read_text())
    assert report["method"] == "lora" and 0 < report["trainable_share"] < 0.1
    assert report["trainable_params"] == LAYERS * 2 * (2 * 8 * HIDDEN) + (HIDDEN * 2 + 2)
    assert report["peak_memory_mb"] > 0 and report["seconds_per_epoch"] >= 0
    assert (project / "models/finetuned/adapter/adapter_config.json").is_file()
    assert 0 <= json.loads((project / "metrics/metrics.json").read_text())["accuracy"] <= 1
    assert "torch_int8" in json.loads((project / "metrics/compression.json").read_text())["variants"]
    run_id = json.loads((project / "models/mlflow_run.json").read_text())["run_id"]
    mlrun = MlflowClient(f"sqlite:///{project}/mlflow.db").get_run(run_id)
    assert mlrun.data.params["train.method.name"] == "lora"
    assert mlrun.data.metrics["train/trainable_share"] == pytest.approx(report["trainable_share"])
