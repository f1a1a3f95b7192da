"""Where training runs and in which precision: CUDA when present (never required), bf16 where the hardware has it."""
from __future__ import annotations

import torch
from omegaconf import DictConfig

from ftpipe.infra.errors import PipelineError
from ftpipe.infra.seeding import seed_everything
from ftpipe.training import distributed as ddp


def cpu_supports_bf16() -> bool:
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def pick_device(train: DictConfig) -> tuple[torch.device, torch.dtype | None]:
    """(device, autocast dtype or None for fp32). CUDA is used when present, never required."""
    cuda = torch.cuda.is_available()
    if train.device == "cuda" and not cuda:
        raise PipelineError("train.device: cuda requested but no CUDA device is visible; use auto or cpu")
    device = torch.device("cuda" if cuda and train.device != "cpu" else "cpu")
    if train.precision == "fp32":
        return device, None
    if train.precision == "fp16" and device.type != "cuda":
        raise PipelineError("train.precision: fp16 needs a CUDA device; use bf16 or fp32 on CPU")
    has_bf16 = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_supports_bf16()
    if train.precision == "bf16" and not has_bf16:
        raise PipelineError(f"train.precision: this {device.type.upper()} has no bf16 support; use fp32")
    return device, torch.bfloat16 if train.precision == "bf16" else torch.float16


def prepare(seed: int, train: DictConfig) -> tuple[torch.device, torch.dtype | None]:
    """Seed everything, set this process's CPU threads, and pick the device and autocast dtype."""
    seed_everything(seed)
    # Deterministic mode also NaN-fills every torch.empty: 13% of training CPU time (BENCHMARKS.md), and only
    # guards reads of uninitialised memory, which no op here makes; results stay identical run to run.
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.set_num_threads(train.num_threads or ddp.cpu_share())
    return pick_device(train)
