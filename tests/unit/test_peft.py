"""train.method: LoRA, prompt tuning (real peft) and head-only train what they should, save and reload."""
from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from ftpipe.compression.quantize import torch_int8
from ftpipe.config.schema import check_section
from ftpipe.infra.errors import PipelineError
from ftpipe.training.methods import apply_method, save_model, set_trainable, with_method
from ftpipe.training.models import file_size, load_classifier
from ftpipe.training.optim import build_optimizer
from tests.helpers.config import train_cfg
from tests.helpers.models import TINY_HIDDEN as HIDDEN
from tests.helpers.models import TINY_LAYERS as LAYERS

NAMES = ["neg", "pos"]


def method_cfg(*overrides):
    """`train` as the stage uses it: checked (config.schema), its method filled in (with_method)."""
    train = train_cfg(*overrides)
    check_section("train", train)
    return with_method(train)


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 2000, (6, 9), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def logits(model, inputs):
    model.eval()
    with torch.no_grad():
        return model(**inputs).logits


def fit(model, train, steps=4):
    """A few real optimiser steps, as the train stage takes them."""
    set_trainable(model, train, 0)
    optimizer = build_optimizer(model, train)
    model.train()
    for step in range(steps):
        inputs = batch(step)
        loss = torch.nn.functional.cross_entropy(model(**inputs).logits, torch.tensor([0, 1] * 3))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model


def snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def changed(before, model):
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}


def test_lora_trains_only_the_adapters_and_the_head(tiny_model_dir):
    torch.manual_seed(0)
    train = method_cfg("train/method=lora", "train.method.r=4")
    model = apply_method(load_classifier(str(tiny_model_dir), NAMES), train)
    trainable = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    assert all(".lora_A." in n or ".lora_B." in n or ".classifier.modules_to_save." in n for n in trainable)
    # query and value in each layer: A (r x hidden) + B (hidden x r); the head: weight + bias
    assert sum(trainable.values()) == LAYERS * 2 * (2 * 4 * HIDDEN) + (HIDDEN * 2 + 2)
    assert set_trainable(model, train, 1) == sum(trainable.values())
    before = snapshot(model)
    moved = changed(before, fit(model, train))
    assert moved and moved <= set(trainable)                       # frozen weights never move
    assert any(".lora_B." in n for n in moved)


def test_a_checkpointed_lora_state_resumes_into_a_freshly_wrapped_model(tiny_model_dir):
    """What train's checkpoints hold (model.state_dict()) loads back after apply_method, as a resume does."""
    torch.manual_seed(0)
    train = method_cfg("train/method=lora")
    model = fit(apply_method(load_classifier(str(tiny_model_dir), NAMES), train), train)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(1)
    fresh = apply_method(load_classifier(str(tiny_model_dir), NAMES), train)
    assert not torch.allclose(logits(fresh, batch(3)), logits(model, batch(3)))
    fresh.load_state_dict(state)
    assert torch.equal(logits(fresh, batch(3)), logits(model, batch(3)))


def test_layerwise_lr_decay_finds_the_layers_inside_the_peft_wrapper(tiny_model_dir):
    train = method_cfg("train/method=lora", "train.layerwise_lr_decay=0.5")
    model = apply_method(load_classifier(str(tiny_model_dir), NAMES), train)
    lr_of = {id(p): g["lr"] for g in build_optimizer(model, train).param_groups for p in g["params"]}
    params = dict(model.named_parameters())
    lr = train.lr
    assert lr_of[id(params["base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.default.weight"])] \
        == pytest.approx(lr * 0.5 ** 2)
    assert lr_of[id(params["base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.default.weight"])] \
        == pytest.approx(lr * 0.5)
    assert lr_of[id(params["base_model.model.classifier.modules_to_save.default.weight"])] == pytest.approx(lr)


def test_head_only_trains_only_the_layers_above_the_encoder(tiny_model_dir):
    torch.manual_seed(0)
    train = method_cfg("train/method=head_only")
    model = apply_method(load_classifier(str(tiny_model_dir), NAMES), train)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"}
    before = snapshot(model)
    assert changed(before, fit(model, train)) == trainable


@pytest.mark.parametrize("merge", [True, False])
def test_lora_adapter_saves_small_and_reloads_with_the_same_predictions(tmp_path, tiny_model_dir, merge):
    torch.manual_seed(0)
    train = method_cfg("train/method=lora", f"train.method.merge={str(merge).lower()}")
    model = fit(apply_method(load_classifier(str(tiny_model_dir), NAMES), train), train)
    inputs = batch(42)
    expected = logits(model, inputs)

    from peft import PeftModel

    save_model(model, train, tmp_path, lambda: load_classifier(str(tiny_model_dir), NAMES))
    adapter = tmp_path / "adapter"
    assert file_size(adapter / "adapter_model.safetensors") < file_size(tmp_path / "model.safetensors") / 10
    # the adapter alone, on a fresh copy of the base model, predicts as before saving
    alone = PeftModel.from_pretrained(load_classifier(str(tiny_model_dir), NAMES), adapter)
    assert torch.allclose(logits(alone, inputs), expected, atol=1e-6)
    # the directory evaluate and compress read: merged weights (or base + adapter merged on load)
    reloaded = load_classifier(str(tmp_path), NAMES)
    assert not isinstance(reloaded, PeftModel)
    assert torch.allclose(logits(reloaded, inputs), expected, atol=1e-5)
    assert json.loads((tmp_path / "method.json").read_text())["merged"] is merge


def test_prompt_tuning_trains_the_prompt_and_head_and_reloads(tmp_path, tiny_model_dir):
    torch.manual_seed(0)
    train = method_cfg("train/method=prompt_tuning", "train.method.num_virtual_tokens=5")
    model = apply_method(load_classifier(str(tiny_model_dir), NAMES), train)
    trainable = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    assert sum(trainable.values()) == 5 * HIDDEN + (HIDDEN * 2 + 2)
    before = snapshot(model)
    model = fit(model, train)
    assert changed(before, model) == set(trainable)
    expected = logits(model, batch(7))
    save_model(model, train, tmp_path, lambda: load_classifier(str(tiny_model_dir), NAMES))
    reloaded = load_classifier(str(tmp_path), NAMES)
    assert torch.allclose(logits(reloaded, batch(7)), expected, atol=1e-6)
    # compress quantizes what evaluate loads: the peft-wrapped model too
    assert torch.allclose(logits(torch_int8(reloaded, embeddings=False), batch(7)), expected, atol=0.1)


@pytest.mark.parametrize("overrides, message", [
    (["train/method=lora", "train.method.name=adapterx"], "train.method.name: unknown value 'adapterx'"),
    (["train/method=lora", "train.method.r=0"], "train.method.r: must be a positive integer"),
    (["train/method=lora", "train.method.dropout=1.5"], "train.method.dropout: must be a number >= 0 and < 1"),
    (["train/method=lora", "train.method.target_modules=[]"], "train.method.target_modules: name at least one"),
    (["train/method=lora", "train.freeze_layers=2"], "train.freeze_layers: only for train.method=full"),
    (["train/method=head_only", "train.method.lr=-1"], "train.method.lr: must be a positive number"),
])
def test_bad_method_config_is_a_one_line_error_naming_the_key(overrides, message):
    train = train_cfg(*overrides)
    with pytest.raises(PipelineError, match=message):
        check_section("train", train)


def test_lora_on_modules_the_model_lacks_names_the_key(tiny_model_dir):
    train = method_cfg("train/method=lora", "train.method.target_modules=[q_proj]")
    with pytest.raises(PipelineError, match="train.method.target_modules: peft cannot apply lora"):
        apply_method(load_classifier(str(tiny_model_dir), NAMES), train)


def test_method_lr_replaces_train_lr_only_when_set():
    assert with_method(train_cfg()).lr == 5e-5
    assert with_method(train_cfg("train/method=lora")).lr == 5e-4
    assert with_method(train_cfg("train/method=lora", "train.method.lr=null")).lr == 5e-5


def test_a_train_section_without_a_method_is_full_fine_tuning():
    train = OmegaConf.create({k: v for k, v in train_cfg().items() if k != "method"})  # composed before methods
    filled = with_method(train)
    assert filled.method.name == "full" and filled.lr == train.lr
    check_section("train", train)
