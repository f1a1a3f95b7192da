"""How sure a number is: bootstrap intervals, the paired comparison behind the compression gate, temperature
scaling, and the baseline floor's warning."""
from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf
from sklearn.metrics import f1_score

from ftpipe.compression import gate
from ftpipe.evaluation import metrics
from ftpipe.evaluation.metrics import bootstrap_ci, fit_temperature, paired_delta_ci, softmax, temperature_report
from ftpipe.evaluation.scoring import baseline_warning, split_report


def test_bootstrap_intervals_match_scikit_learn_resample_by_resample():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 400)
    preds = np.where(rng.random(400) < 0.7, labels, rng.integers(0, 3, 400))
    ci = bootstrap_ci(labels, preds, 300, seed=7)
    draws = np.random.default_rng(7).integers(0, 400, size=(300, 400))  # the same resamples
    f1 = [f1_score(labels[d], preds[d], average="macro", zero_division=0) for d in draws]
    assert ci["macro_f1"] == pytest.approx(np.percentile(f1, [2.5, 97.5]).tolist(), abs=1e-6)
    acc = (labels == preds).mean()
    assert ci["accuracy"][0] < acc < ci["accuracy"][1] and ci["accuracy"][1] - ci["accuracy"][0] < 0.12


def test_the_paired_interval_is_tighter_than_the_gap_between_two_separate_ones():
    rng = np.random.default_rng(2)
    reference = rng.random(1000) < 0.8
    variant = reference.copy()
    variant[:15] = ~variant[:15]  # disagrees on 15 texts of 1000
    low, high = paired_delta_ci(variant, reference, 1000, seed=0)
    delta = variant.mean() - reference.mean()
    assert low <= delta <= high and high - low < 0.02  # two separate intervals would each be ~0.05 wide
    assert paired_delta_ci(reference, reference, 200, seed=0) == [0.0, 0.0]


def test_the_gate_judges_the_paired_interval_and_the_calibration():
    base = {"accuracy": 0.8, "latency_p50_ms_b1": 10.0, "delta_accuracy": 0.0, "delta_ece": 0.0}
    fast = {"accuracy": 0.797, "latency_p50_ms_b1": 3.0, "delta_accuracy": -0.003, "delta_ece": 0.001}
    assert gate.choose({"fp32": base, "int8": fast | {"delta_accuracy_ci95": [-0.008, 0.002]}}, 0.01)[0] == "int8"
    # the same point estimate, but the interval reaches past the limit: not shipped
    name, reason = gate.choose({"fp32": base, "int8": fast | {"delta_accuracy_ci95": [-0.012, 0.006]}}, 0.01)
    assert name == "fp32" and "[-1.20, +0.60]" in reason
    worse_calibrated = fast | {"delta_accuracy_ci95": [-0.008, 0.002], "delta_ece": 0.05}
    assert gate.choose({"fp32": base, "int8": worse_calibrated}, 0.01, max_ece_increase=0.02)[0] == "fp32"
    assert gate.choose({"fp32": base, "int8": worse_calibrated}, 0.01, max_ece_increase=None)[0] == "int8"


def test_temperature_scaling_recovers_an_overconfident_model_and_keeps_its_predictions():
    rng = np.random.default_rng(3)
    true_logits = rng.normal(0, 1.5, size=(3000, 3))
    labels = np.array([rng.choice(3, p=p) for p in softmax(true_logits)])
    overconfident = 2.5 * true_logits  # the model's logits: right ranking, far too sharp
    temperature = fit_temperature(labels, overconfident)
    assert temperature == pytest.approx(2.5, rel=0.1)
    report = temperature_report(labels, overconfident, enabled=True)
    assert report["val_ece"] < report["val_ece_uncalibrated"] / 2
    assert (softmax(overconfident, temperature).argmax(1) == overconfident.argmax(1)).all()
    assert temperature_report(labels, overconfident, enabled=False)["temperature"] == 1.0
    assert metrics.calibration(labels, softmax(true_logits), 10)[0] < 0.05  # the check: true logits are calibrated


def test_the_report_carries_intervals_and_the_baseline_and_warns_below_the_margin():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 300)
    logits = np.stack([np.zeros(300), np.where(labels == 1, 2.0, -2.0) + rng.normal(0, 1.5, 300)], axis=1)
    settings = OmegaConf.create({"calibration_bins": 10, "bootstrap_samples": 200})
    report, probs, _ = split_report(labels, logits, 1.0, ["neg", "pos"], settings, seed=0,
                                   baseline_probs=softmax(logits))
    assert set(report["ci95"]) == {"accuracy", "macro_f1"} and report["baseline"]["margin_macro_f1"] == 0.0
    assert "less than evaluate.baseline.min_margin (2.00 pt)" in baseline_warning(report, 0.02)
    assert baseline_warning(report, -0.01) is None
    none, _, _ = split_report(labels, logits, 1.0, ["neg", "pos"], OmegaConf.create(
        {"calibration_bins": 10, "bootstrap_samples": 0}), seed=0)
    assert "ci95" not in none and "baseline" not in none and baseline_warning(none, 0.02) is None
