"""The train stage's loss, built once from `train.loss` and `train.class_weights` (docs/imbalance.md).

cross_entropy with no class weights is `loop.cross_entropy` itself, so the default run is unchanged to the bit.
`balanced` weights each class by n_rows / (n_classes * rows of the class), counted on the tokenized train split;
they weight cross-entropy, label smoothing, and act as focal loss's alpha. Distillation builds its own loss.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch
from omegaconf import DictConfig
from torch.nn import functional as F

from ftpipe.config.schema import train_setting
from ftpipe.infra.errors import PipelineError
from ftpipe.training.loop import Loss, cross_entropy


def class_weights(labels: np.ndarray, names: list[str], mode: str) -> dict[str, float] | None:
    """Per-class loss weights by class name, in label-id order (`train.class_weights`); None for `none`."""
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=len(names))
    empty = [name for name, n in zip(names, counts) if n == 0]
    if empty:
        raise PipelineError(f"train.class_weights=balanced: class {', '.join(map(repr, empty))} has no rows in the "
                            f"train split, so it has no weight; drop it (data.drop_labels) or set "
                            f"train.class_weights=none")
    return {name: len(labels) / (len(names) * int(n)) for name, n in zip(names, counts)}


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of -alpha_y (1 - p_y)^gamma log p_y, weighted as F.cross_entropy weights its mean.

    It is cross-entropy's own nll_loss on modulated log-probabilities, so gamma = 0 gives cross-entropy to the bit.
    """
    log_p = F.log_softmax(logits.float(), dim=-1)
    return F.nll_loss((1 - log_p.exp()).pow(gamma) * log_p, labels, weight=weight)


def _weighted_ce(logits: torch.Tensor, labels: torch.Tensor, batch: dict[str, torch.Tensor],
                 weight: torch.Tensor | None, smoothing: float) -> torch.Tensor:
    return F.cross_entropy(logits.float(), labels, weight=weight, label_smoothing=smoothing)


def _focal(logits: torch.Tensor, labels: torch.Tensor, batch: dict[str, torch.Tensor], gamma: float,
           weight: torch.Tensor | None) -> torch.Tensor:
    return focal_loss(logits, labels, gamma, weight)


def build_loss(train: DictConfig, weights: dict[str, float] | None, device: torch.device) -> Loss:
    """The Trainer's loss for `train.loss` (values checked by config.schema.Train), weighted by `weights`."""
    kind = train_setting(train, "loss")
    if kind == "cross_entropy" and weights is None:
        return cross_entropy
    weight = None if weights is None else torch.tensor(list(weights.values()), dtype=torch.float32, device=device)
    if kind == "focal":
        return partial(_focal, gamma=float(train_setting(train, "focal_gamma")), weight=weight)
    smoothing = float(train_setting(train, "label_smoothing")) if kind == "label_smoothing" else 0.0
    return partial(_weighted_ce, weight=weight, smoothing=smoothing)
