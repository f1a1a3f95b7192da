"""Where and how training runs: config checks, device and precision choice, upstream reports."""
from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from .config import flatten
from .errors import PipelineError
from .io import read_json
from .validate import check_train

UPSTREAM_METRICS = {"clean": "metrics/clean.json", "augment": "metrics/augment.json",
                    "tokenize": "metrics/tokenize.json"}
# reports of the data stages that the model's MLflow run carries as artefacts (stage -> files)
UPSTREAM_REPORTS = {"clean": ["metrics/clean.json"], "augment": ["metrics/augment.json", "reports/augment_samples.json"],
                    "tokenize": ["metrics/tokenize.json"]}


def check_train_config(train: DictConfig) -> DictConfig:
    """Reject values that would fail late or silently (before any model is loaded)."""
    positive = {"epochs": int, "batch_size": int, "eval_batch_size": int, "grad_accum_steps": int}
    for key, kind in positive.items():
        if not isinstance(train[key], kind) or train[key] < 1:
            raise PipelineError(f"train.{key}: must be a positive integer, got {train[key]!r}")
    nproc = train.get("nproc", 1)  # absent from a params.yaml composed before DDP
    if not isinstance(nproc, int) or nproc < 1:
        raise PipelineError(f"train.nproc: must be a positive integer (processes on this machine), got {nproc!r}")
    if not (isinstance(train.lr, (int, float)) and train.lr > 0):
        raise PipelineError(f"train.lr: must be a positive number, got {train.lr!r}")
    if not 0 < train.layerwise_lr_decay <= 1:
        raise PipelineError(f"train.layerwise_lr_decay: must be in (0, 1], got {train.layerwise_lr_decay}")
    if train.nonfinite_loss not in ("stop", "skip"):
        raise PipelineError(f"train.nonfinite_loss: use stop or skip, got {train.nonfinite_loss!r}")
    if train.precision not in ("fp32", "bf16", "fp16"):
        raise PipelineError(f"train.precision: use fp32, bf16 or fp16, got {train.precision!r}")
    check_train(train)
    return train


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
    if train.device not in ("auto", "cpu", "cuda"):
        raise PipelineError(f"train.device: use auto, cpu or cuda, got {train.device!r}")
    device = torch.device("cuda" if cuda and train.device != "cpu" else "cpu")
    if train.precision == "fp32":
        return device, None
    if train.precision == "fp16" and device.type != "cuda":
        raise PipelineError("train.precision: fp16 needs a CUDA device; use bf16 or fp32 on CPU")
    if train.precision == "bf16" and not (torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_supports_bf16()):
        raise PipelineError(f"train.precision: this {device.type.upper()} has no bf16 support; use fp32")
    return device, torch.bfloat16 if train.precision == "bf16" else torch.float16


def upstream_metrics() -> dict[str, float]:
    """Numeric figures of the earlier stages' reports, prefixed by stage, for the MLflow run."""
    out = {}
    for stage, path in UPSTREAM_METRICS.items():
        if Path(path).is_file():
            out.update({f"{stage}.{k}": float(v) for k, v in flatten(read_json(path)).items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return out


def upstream_reports() -> list[tuple[str, str]]:
    """(file, artefact folder) for each data-stage report present."""
    return [(path, stage) for stage, paths in UPSTREAM_REPORTS.items() for path in paths if Path(path).is_file()]
