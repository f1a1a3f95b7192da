"""Where training runs and in which precision: CUDA when present (never required), bf16 where the hardware has it."""
from __future__ import annotations

import torch
from omegaconf import DictConfig

from ftpipe.infra.errors import PipelineError
from ftpipe.infra.logs import get_logger
from ftpipe.infra.seeding import seed_everything
from ftpipe.training import distributed as ddp

log = get_logger("train")


def cpu_supports_bf16() -> bool:
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}  # autocast dtype per precision


def precision_name(amp_dtype: torch.dtype | None) -> str:
    """What MLflow's `precision` tag and metrics/train.json record: the precision training ran in."""
    return next(name for name, dtype in DTYPES.items() if dtype == amp_dtype)


def has_bf16(device: torch.device) -> bool:
    return torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_supports_bf16()


def resolve_precision(requested: str, device: torch.device) -> tuple[str, str]:
    """(fp32 | bf16 | fp16, why): `auto` is bf16 where `device` has it natively, else fp32; the rest as asked.

    An AVX2-only CPU runs bf16 autocast in slow emulation, so auto keeps fp32 there.
    """
    if requested != "auto":
        return requested, "set by train.precision"
    feature = "bf16" if device.type == "cuda" else "AVX512-BF16 or AMX"
    if has_bf16(device):
        return "bf16", f"auto: this {device.type.upper()} has {feature}"
    return "fp32", f"auto: this {device.type.upper()} has no {feature}"


def pick_device(train: DictConfig) -> tuple[torch.device, torch.dtype | None]:
    """(device, autocast dtype or None for fp32). CUDA is used when present, never required."""
    cuda = torch.cuda.is_available()
    if train.device == "cuda" and not cuda:
        raise PipelineError("train.device: cuda requested but no CUDA device is visible; use auto or cpu")
    device = torch.device("cuda" if cuda and train.device != "cpu" else "cpu")
    precision, why = resolve_precision(train.precision, device)
    if precision == "fp16" and device.type != "cuda":
        raise PipelineError("train.precision: fp16 needs a CUDA device; use bf16, auto or fp32 on CPU")
    if precision == "bf16" and not has_bf16(device):
        raise PipelineError(f"train.precision: this {device.type.upper()} has no bf16 support; use fp32 or auto")
    if ddp.is_main():  # before the process group exists every rank would say it
        log.info("precision %s on %s (%s)", precision, device.type, why)
    return device, DTYPES[precision]


def prepare(seed: int, train: DictConfig) -> tuple[torch.device, torch.dtype | None]:
    """Seed everything, set this process's CPU threads, and pick the device and autocast dtype."""
    seed_everything(seed)
    # Deterministic mode also NaN-fills every torch.empty: 13% of training CPU time (BENCHMARKS.md), and only
    # guards reads of uninitialised memory, which no op here makes; results stay identical run to run.
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.set_num_threads(train.num_threads or ddp.cpu_share())
    return pick_device(train)
