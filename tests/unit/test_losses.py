"""The train loss (training/losses.py): balanced class weights, focal loss, label smoothing, and their config."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch.nn import functional as F

from ftpipe.config.schema import check_section, train_setting
from ftpipe.infra.errors import PipelineError
from ftpipe.training import loop
from ftpipe.training.losses import build_loss, class_weights, focal_loss
from tests.helpers.config import train_cfg

CPU = torch.device("cpu")
NAMES = ["a", "b", "c"]


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(16, 3, generator=generator) * 3, torch.randint(0, 3, (16,), generator=generator)


def test_balanced_weights_are_rows_over_classes_times_class_rows():
    labels = np.array([0] * 6 + [1] * 3 + [2])  # 10 rows, 3 classes
    assert class_weights(labels, NAMES, "balanced") == pytest.approx({"a": 10 / 18, "b": 10 / 9, "c": 10 / 3})
    assert class_weights(labels, NAMES, "none") is None


def test_a_class_without_train_rows_is_a_one_line_error_naming_it():
    with pytest.raises(PipelineError) as raised:
        class_weights(np.array([0, 0, 2]), NAMES, "balanced")
    message = str(raised.value)
    assert "'b' has no rows in the train split" in message and "train.class_weights=none" in message
    assert "\n" not in message


def test_the_default_loss_is_the_loops_cross_entropy_itself():
    assert build_loss(train_cfg(), None, CPU) is loop.cross_entropy
    older = OmegaConf.create({k: v for k, v in train_cfg().items()  # a params.yaml from before the loss keys
                              if k not in ("loss", "class_weights", "focal_gamma", "label_smoothing")})
    assert train_setting(older, "class_weights") == "none" and build_loss(older, None, CPU) is loop.cross_entropy
    check_section("train", older)


@pytest.mark.parametrize("weights", [None, {"a": 0.5, "b": 1.0, "c": 4.0}])
def test_focal_with_gamma_zero_is_cross_entropy(batch, weights):
    logits, labels = batch
    focal = build_loss(train_cfg(loss="focal", focal_gamma=0.0), weights, CPU)
    weight = None if weights is None else torch.tensor(list(weights.values()))
    assert torch.equal(focal(logits, labels, {}), F.cross_entropy(logits, labels, weight=weight))  # to the bit


def test_focal_matches_a_hand_computation_and_spares_easy_examples():
    logits, labels = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5]]), torch.tensor([0, 2])
    p = torch.softmax(logits, -1)[torch.arange(2), labels].tolist()
    alpha = [0.5, 4.0]  # the weights of classes 0 and 2
    hand = [-(1 - p[i]) ** 2 * math.log(p[i]) for i in range(2)]
    assert focal_loss(logits, labels, 2.0).item() == pytest.approx(sum(hand) / 2, rel=1e-6)
    weighted = focal_loss(logits, labels, 2.0, torch.tensor([0.5, 1.0, 4.0]))
    assert weighted.item() == pytest.approx((alpha[0] * hand[0] + alpha[1] * hand[1]) / sum(alpha), rel=1e-6)
    # the confidently right first row loses more of its cross-entropy than the wrong second row
    assert hand[0] / -math.log(p[0]) < hand[1] / -math.log(p[1])


def test_label_smoothing_matches_a_hand_computation():
    logits, labels, eps = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5]]), torch.tensor([0, 2]), 0.2
    log_p = torch.log_softmax(logits, -1)
    # target: 1 - eps on the true class plus eps / n_classes on every class
    hand = [-((1 - eps) * log_p[i, labels[i]] + eps * log_p[i].mean()).item() for i in range(2)]
    loss = build_loss(train_cfg(loss="label_smoothing", label_smoothing=eps), None, CPU)
    assert loss(logits, labels, {}).item() == pytest.approx(sum(hand) / 2, rel=1e-6)


def test_balanced_weights_reach_cross_entropy_and_label_smoothing(batch):
    logits, labels = batch
    weights = {"a": 0.5, "b": 1.0, "c": 4.0}
    weight = torch.tensor(list(weights.values()))
    weighted = build_loss(train_cfg(), weights, CPU)
    assert weighted(logits, labels, {}).item() == pytest.approx(F.cross_entropy(logits, labels, weight=weight).item())
    assert weighted(logits, labels, {}).item() != pytest.approx(F.cross_entropy(logits, labels).item())
    smoothed = build_loss(train_cfg(loss="label_smoothing", label_smoothing=0.1), weights, CPU)
    assert smoothed(logits, labels, {}).item() == pytest.approx(
        F.cross_entropy(logits, labels, weight=weight, label_smoothing=0.1).item())


@pytest.mark.parametrize("values, expected", [
    ({"loss": "hinge"}, "train.loss: unknown value 'hinge'; use one of cross_entropy, focal, label_smoothing"),
    ({"class_weights": "inverse"}, "train.class_weights: unknown value 'inverse'; use one of none, balanced"),
    ({"focal_gamma": -1.0}, "train.focal_gamma: must be a number >= 0, got -1.0"),
    ({"label_smoothing": 1.0}, "train.label_smoothing: must be a number >= 0 and < 1, got 1.0"),
])
def test_bad_loss_settings_are_refused_naming_the_key(values, expected):
    check_section("train", train_cfg(loss="focal", class_weights="balanced"))  # the good values pass
    with pytest.raises(PipelineError) as raised:
        check_section("train", train_cfg(**values))
    assert expected in str(raised.value) and "\n" not in str(raised.value), str(raised.value)
