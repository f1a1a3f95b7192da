"""Compression building blocks on a tiny BERT classifier (conftest's tiny_classifier, bundles): ONNX export,
INT8 variants, distillation, the gate, the MLflow registry. The compress stage is in integration/."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from ftpipe.compression import bundle, deploy, distill, gate, measure, onnx_export
from ftpipe.compression.predictor import Predictor
from tests.helpers.data import SNIPPET_LABELS, SNIPPET_NAMES, SNIPPETS

torch.set_num_threads(1)  # the CI box has 2 shared cores; 2 threads thrash under load


def test_onnx_matches_pytorch_on_other_batch_and_sequence_sizes(tiny_classifier, bundles):
    model, _, _ = tiny_classifier
    predictor = Predictor(bundles["onnx_fp32"], threads=1)
    assert (bundles["onnx_fp32"] / "model.onnx.data").is_file()  # dynamo's external weights travel with the graph
    batches = [predictor.encode(SNIPPETS), predictor.encode(SNIPPETS[:1]), predictor.encode(SNIPPETS[3:6])]
    assert len({b["input_ids"].shape for b in batches}) == 3  # exported from a (2, n) sample: axes are dynamic
    assert onnx_export.max_abs_diff(model, predictor, batches) < 1e-4


@pytest.mark.parametrize("name", ["torch_int8", "onnx_int8_QInt8", "onnx_int8_QUInt8"])
def test_quantized_variants_still_predict(bundles, name):
    reference = Predictor(bundles["fp32"], threads=1)
    predictor = Predictor(bundles[name], threads=1)
    batch = predictor.encode(SNIPPETS)
    logits = predictor.logits(batch)
    assert logits.shape == (len(SNIPPETS), 2) and np.isfinite(logits).all()
    assert np.abs(logits - reference.logits(batch)).max() < 0.5  # an approximation of fp32, not noise
    results = predictor.predict(SNIPPETS)
    assert all(r["label"] in SNIPPET_NAMES and abs(sum(r["probabilities"].values()) - 1) < 1e-5 for r in results)
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


def test_student_keeps_every_other_teacher_layer(tiny_classifier):
    teacher, _, _ = tiny_classifier
    assert distill.kept_layers(6, 3) == [0, 2, 4] and distill.kept_layers(4, 2) == [0, 2]
    student = distill.make_student(teacher, 2)
    assert student.config.num_hidden_layers == 2 and teacher.config.num_hidden_layers == 4
    t, s = teacher.state_dict(), student.state_dict()
    key = "bert.encoder.layer.{}.attention.self.query.weight"
    assert torch.equal(s[key.format(1)], t[key.format(2)])
    assert torch.equal(s["classifier.weight"], t["classifier.weight"])


def test_distillation_loss_decreases(tiny_classifier):
    teacher, tokenizer, _ = tiny_classifier
    student = distill.make_student(teacher, 2)
    settings = OmegaConf.create({"batch_size": 8, "epochs": 10, "lr": 5e-3, "max_length": 16,
                                 "temperature": 2.0, "alpha": 0.5})
    batch = tokenizer(SNIPPETS, padding=True, return_tensors="pt")

    def eval_loss() -> float:  # without dropout, so the comparison is not noise
        student.eval()
        with torch.no_grad():
            return float(distill.distill_loss(student(**batch).logits, teacher(**batch).logits,
                                              torch.tensor(SNIPPET_LABELS), 2.0, 0.5)[0])

    before = eval_loss()
    losses = distill.train_student(student, teacher, tokenizer, SNIPPETS, SNIPPET_LABELS, settings, seed=0,
                                   progress=False)
    assert len(losses) == 10 and min(losses) >= 0
    assert eval_loss() < before - 1e-3


def result(acc, ms, mb=10.0, reference=0.90):
    """A variant's figures as relative_to_reference leaves them (no interval: the gate falls back to the point)."""
    return {"accuracy": acc, "latency_p50_ms_b1": ms, "size_mb": mb, "delta_accuracy": acc - reference,
            "delta_ece": 0.0}


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
        out = loaded.predict(pd.DataFrame({"text": SNIPPETS[:2]}))
        assert list(out["label"].isin(SNIPPET_NAMES)) == [True, True]
    finally:
        mlflow.set_tracking_uri(None)


def test_predict_all_batches_by_length_and_answers_in_the_texts_order(bundles):
    predictor = Predictor(bundles["fp32"], threads=1)
    texts = [SNIPPETS[0] * 3, SNIPPETS[1], SNIPPETS[2] * 2, SNIPPETS[3]]   # lengths out of order
    one_by_one = np.concatenate([predictor.probabilities(predictor.encode([t])) for t in texts])
    np.testing.assert_allclose(measure.predict_all(predictor, texts, batch_size=2), one_by_one, atol=1e-5)


def test_latency_intervals_bound_the_median_and_the_mean():
    rng = np.random.default_rng(0)
    seconds = list(rng.lognormal(-4, 0.3, size=30))
    low, high = measure.median_ci(seconds)
    assert low < np.median(seconds) < high and low > min(seconds) and high < max(seconds)
    low, high = measure.mean_ci(seconds)
    assert low < np.mean(seconds) < high
    tight = measure.mean_ci(list(rng.normal(1.0, 0.01, size=8)))   # steady calls: a narrow interval
    assert tight[1] - tight[0] < 0.05
    low, high = measure.throughput_ci(32, [1.0, 1.1, 0.9, 1.0])
    assert low < 32 < high
    assert measure.throughput_ci(32, [0.1, 5.0])[1] is None   # two wild calls: no upper bound on texts/s


def test_distillation_can_keep_the_teachers_embeddings(tiny_classifier):
    teacher, tokenizer, _ = tiny_classifier
    student = distill.make_student(teacher, 2)
    settings = OmegaConf.create({"batch_size": 8, "epochs": 2, "lr": 5e-3, "max_length": 16, "temperature": 2.0,
                                 "alpha": 0.5, "freeze_embeddings": True})
    word = "bert.embeddings.word_embeddings.weight"
    distill.train_student(student, teacher, tokenizer, SNIPPETS, SNIPPET_LABELS, settings, seed=0, progress=False)
    assert torch.equal(student.state_dict()[word], teacher.state_dict()[word])
    key = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(student.state_dict()[key], teacher.state_dict()[key])   # the layers still learn
