"""Training building blocks: batch order, padding, optimiser groups, freezing, checkpoints, devices, train checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from ftpipe.config.schema import check_section
from ftpipe.infra.errors import PipelineError
from ftpipe.training import checkpoints
from ftpipe.training.batching import collate, inference_batches, train_batches
from ftpipe.training.device import pick_device
from ftpipe.training.optim import build_optimizer, encoder_layers, set_trainable
from tests.helpers.config import train_cfg


@pytest.fixture
def tiny_model(tiny_model_dir):
    return AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)


def test_batch_order_is_a_pure_function_of_seed_and_epoch():
    lengths = np.random.default_rng(0).integers(5, 80, size=1000)
    a, b = train_batches(lengths, 32, 7, 0, True), train_batches(lengths, 32, 7, 0, True)
    assert all((x == y).all() for x, y in zip(a, b))
    assert not all((x == y).all() for x, y in zip(a, train_batches(lengths, 32, 7, 1, True)))
    assert sorted(np.concatenate(a).tolist()) == list(range(1000))  # every example exactly once


def test_length_bucketing_cuts_padding():
    lengths = np.random.default_rng(0).integers(5, 80, size=2000)

    def padded(batches):
        return sum(len(b) * lengths[b].max() for b in batches)

    assert padded(train_batches(lengths, 32, 1, 0, True)) < 0.8 * padded(train_batches(lengths, 32, 1, 0, False))
    assert sorted(np.concatenate(inference_batches(lengths, 64)).tolist()) == list(range(2000))


def test_collate_pads_to_the_longest_in_batch():
    batch = collate([[1, 2, 3], [4], [5, 6]], np.array([0, 1]), pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_layerwise_lr_decay_and_no_decay_groups(tiny_model):
    optimizer = build_optimizer(tiny_model, train_cfg(lr=1e-3, layerwise_lr_decay=0.5, weight_decay=0.1))
    lrs = sorted({g["lr"] for g in optimizer.param_groups})
    assert lrs == pytest.approx([1e-3 * 0.5 ** 3, 1e-3 * 0.5 ** 2, 1e-3 * 0.5, 1e-3])  # embeddings, 2 layers, head
    names = {id(p): n for n, p in tiny_model.named_parameters()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            assert (group["weight_decay"] == 0) == (names[id(p)].endswith("bias") or "LayerNorm" in names[id(p)])
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(tiny_model.parameters()))


@pytest.mark.parametrize("name, cls", [("sgd", torch.optim.SGD), ("rmsprop", torch.optim.RMSprop)])
def test_other_optimisers(tiny_model, name, cls):
    assert isinstance(build_optimizer(tiny_model, train_cfg(optimizer=name)), cls)


def test_bad_train_values_are_named():
    check_section("train", train_cfg())  # the shipped recipe passes
    with pytest.raises(PipelineError, match="train.optimizer: unknown value 'adam'; use one of adamw, sgd, rmsprop"):
        check_section("train", train_cfg(optimizer="adam"))
    with pytest.raises(PipelineError, match="train.batch_size: must be a positive integer"):
        check_section("train", train_cfg(batch_size=0))
    with pytest.raises(PipelineError, match="train.lr: must be a positive number"):
        check_section("train", train_cfg(lr=-1e-5))


def trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_freezing_and_gradual_unfreezing(tiny_model):
    set_trainable(tiny_model, train_cfg(freeze_embeddings=True, freeze_layers=1), epoch=0)
    names = trainable(tiny_model)
    assert not any("embeddings" in n or "layer.0." in n for n in names) and any("layer.1." in n for n in names)

    gradual = train_cfg(gradual_unfreezing=True)
    set_trainable(tiny_model, gradual, epoch=0)
    assert all(n.startswith(("classifier", "bert.pooler")) for n in trainable(tiny_model))
    set_trainable(tiny_model, gradual, epoch=1)
    names = trainable(tiny_model)
    assert any("layer.1." in n for n in names) and not any("layer.0." in n for n in names)
    set_trainable(tiny_model, gradual, epoch=3)
    assert trainable(tiny_model) == {n for n, _ in tiny_model.named_parameters()}
    assert len(encoder_layers(tiny_model)) == 2


def test_checkpoints_resume_only_with_matching_fingerprint(tmp_path):
    directory = tmp_path / "ckpt"
    for step in (1, 2, 3):
        checkpoints.save(directory, step, {"fingerprint": "abc", "loop": {"step": step}}, keep=2)
    assert sorted(p.name for p in directory.iterdir()) == ["step-00000002", "step-00000003"]
    assert checkpoints.latest(directory, "abc")["loop"]["step"] == 3
    assert checkpoints.latest(directory, "other") is None and not directory.exists()


def test_devices_and_precisions_never_require_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only refusals")
    assert pick_device(train_cfg())[0].type == "cpu"
    with pytest.raises(PipelineError, match="fp16 needs a CUDA device"):
        pick_device(train_cfg(precision="fp16"))
    with pytest.raises(PipelineError, match="cuda requested"):
        pick_device(train_cfg(device="cuda"))
