"""The compress stage on a tiny BERT classifier (conftest's tiny_classifier), and the shipped predict.py run from
its directory alone."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ftpipe import ROOT
from ftpipe.compression import deploy
from ftpipe.config.compose import compose_config
from tests.helpers.data import SNIPPET_LABELS, SNIPPET_NAMES, SNIPPETS
from tests.helpers.project import run_stage


@pytest.mark.parametrize("name", ["onnx_int8_QInt8", "torch_int8"])
def test_predict_entry_point_runs_from_its_directory_alone(bundles, name, tmp_path):
    shipped = deploy.ship(bundles[name], tmp_path / "deploy")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(shipped / "predict.py"), *SNIPPETS[:3]], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["text"] for line in lines] == SNIPPETS[:3]
    assert all(line["label"] in SNIPPET_NAMES and set(line["probabilities"]) == set(SNIPPET_NAMES) for line in lines)


def test_bad_input_gives_one_line_error_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from ftpipe.infra.stage import run_stage as run_main
    from stages import compress

    monkeypatch.chdir(tmp_path)
    params = tmp_path / "params.yaml"
    monkeypatch.setenv("FTPIPE_PARAMS", str(params))
    monkeypatch.delenv("FTPIPE_VERBOSE", raising=False)
    for overrides, expected in ((["compress.variants=[fp32,int4]"], "compress.variants"),
                                ([], "models/finetuned/config.json")):
        params.write_text(OmegaConf.to_yaml(stage_params(tmp_path, *overrides)))
        with pytest.raises(SystemExit) as exited:
            run_main(compress.main)
        err = capsys.readouterr().err.strip()
        assert exited.value.code != 0 and expected in err and len(err.splitlines()) == 1
    assert not any((tmp_path / p).exists() for p in ("models/compressed", "metrics", "plots", "deploy"))


def stage_params(tmp_path: Path, *overrides: str) -> dict:
    """params.yaml as `make params` composes it (every section: compress reads train.num_threads too), with a quick
    compress and the MLflow store in tmp_path."""
    cfg = compose_config(["seed=0", "model.max_length=32", "compress.latency.warmup=1", "compress.latency.repeats=3",
                          "compress.latency.isolate=false", "compress.distill.epochs=1",
                          "compress.distill.batch_size=4", f"mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
                          "mlflow.experiment=compress-stage", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.slow
def test_stage_end_to_end_on_tiny_model(tiny_classifier, tmp_path):
    import pandas as pd

    _, _, model_dir = tiny_classifier
    (tmp_path / "models").mkdir()
    os.symlink(model_dir, tmp_path / "models/finetuned")
    (tmp_path / "data/clean").mkdir(parents=True)
    split = pd.DataFrame({"text": SNIPPETS * 4, "label": SNIPPET_LABELS * 4, "source_row": range(32)})
    for name in ("train", "test"):
        split.to_parquet(tmp_path / f"data/clean/{name}.parquet")
    params = tmp_path / "params.yaml"
    params.write_text(OmegaConf.to_yaml(stage_params(tmp_path)))
    done = run_stage("compress", tmp_path, check=False, PYTHONPATH=str(ROOT), FTPIPE_PARAMS=str(params),
                     FTPIPE_VERBOSE="1")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "metrics/compression.json").read_text())
    assert set(report["variants"]) == {"fp32", "torch_int8", "onnx_fp32", "onnx_int8", "distilled",
                                       "distilled_onnx_int8"}
    assert report["shipped"] in report["variants"] and (tmp_path / "deploy/predict.py").is_file()
    assert (tmp_path / "reports/compression_tradeoff.png").stat().st_size > 0
    assert len(pd.read_csv(tmp_path / "plots/compression.csv")) == 6
