"""train.precision: `auto` resolves to bf16 only where the hardware has it (probes monkeypatched both ways), the
choice is logged in one line, and the explicit precisions keep their refusals."""
from __future__ import annotations

import logging

import pytest
import torch

from ftpipe.config.schema import check_section
from ftpipe.infra.errors import PipelineError
from ftpipe.training import device as dev
from tests.helpers.config import train_cfg


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch):
    """A visible CUDA device whose bf16 support the test sets; torch.device("cuda") needs no real GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    def set_bf16(supported: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    return set_bf16


@pytest.fixture
def log_lines():
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    dev.log.addHandler(handler)
    yield lines
    dev.log.removeHandler(handler)


@pytest.mark.parametrize("has_bf16, expected", [(True, torch.bfloat16), (False, None)])
def test_auto_on_cpu_follows_the_bf16_probe(monkeypatch, cpu_only, log_lines, has_bf16, expected):
    monkeypatch.setattr(dev, "cpu_supports_bf16", lambda: has_bf16)
    device, amp = dev.pick_device(train_cfg(precision="auto"))
    assert device.type == "cpu" and amp == expected
    name = "bf16" if has_bf16 else "fp32"
    reason = "has AVX512-BF16 or AMX" if has_bf16 else "has no AVX512-BF16 or AMX"
    assert log_lines == [f"precision {name} on cpu (auto: this CPU {reason})"]


@pytest.mark.parametrize("has_bf16, expected", [(True, torch.bfloat16), (False, None)])
def test_auto_on_cuda_follows_the_device(monkeypatch, fake_cuda, log_lines, has_bf16, expected):
    monkeypatch.setattr(dev, "cpu_supports_bf16", lambda: not has_bf16)  # the CPU's answer must not matter
    fake_cuda(has_bf16)
    device, amp = dev.pick_device(train_cfg(precision="auto"))
    assert device.type == "cuda" and amp == expected
    assert log_lines[0].startswith(f"precision {dev.precision_name(amp)} on cuda (auto: this CUDA")


def test_auto_with_device_cpu_ignores_a_bf16_gpu(monkeypatch, fake_cuda):
    fake_cuda(True)
    monkeypatch.setattr(dev, "cpu_supports_bf16", lambda: False)
    assert dev.pick_device(train_cfg(precision="auto", device="cpu")) == (torch.device("cpu"), None)


def test_fp16_on_cpu_is_refused_even_with_bf16_hardware(monkeypatch, cpu_only):
    monkeypatch.setattr(dev, "cpu_supports_bf16", lambda: True)
    with pytest.raises(PipelineError, match="^train.precision: fp16 needs a CUDA device"):
        dev.pick_device(train_cfg(precision="fp16"))


def test_explicit_bf16_is_still_refused_where_there_is_none(monkeypatch, cpu_only, log_lines):
    monkeypatch.setattr(dev, "cpu_supports_bf16", lambda: False)
    with pytest.raises(PipelineError, match="^train.precision: this CPU has no bf16 support; use fp32 or auto$"):
        dev.pick_device(train_cfg(precision="bf16"))
    monkeypatch.setattr(dev, "cpu_supports_bf16", lambda: True)
    assert dev.pick_device(train_cfg(precision="bf16"))[1] == torch.bfloat16
    assert log_lines == ["precision bf16 on cpu (set by train.precision)"]


def test_the_recorded_name_is_the_resolved_precision():
    assert [dev.precision_name(d) for d in (None, torch.bfloat16, torch.float16)] == ["fp32", "bf16", "fp16"]


def test_the_schema_takes_auto_but_the_shipped_default_stays_fp32():
    check_section("train", train_cfg(precision="auto"))
    with pytest.raises(PipelineError, match="use one of fp32, bf16, fp16, auto"):
        check_section("train", train_cfg(precision="bf8"))
    assert train_cfg().precision == "fp32"
