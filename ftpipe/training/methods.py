"""Which parameters fine-tuning trains: `full`, `lora` and `prompt_tuning` (via peft), or `head_only`.

`train.method` (conf/train/method/) picks one; `with_method` fills it in. `apply_method` wraps or freezes the
loaded classifier,
`set_trainable` replaces the optimiser module's per-epoch freezing for anything but `full`, and
`save_model` writes `models/finetuned/`: always a directory `load_classifier` opens, with the adapter
alone in `adapter/`. A LoRA adapter is merged into the base weights (`merge: true`) or stored beside
an untouched base and merged when loaded; a prompt is kept as a peft model (it cannot be merged).
"""
from __future__ import annotations

import resource
import sys
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ftpipe.infra.errors import PipelineError
from ftpipe.infra.io import read_json, write_json
from ftpipe.training import optim

ADAPTER_DIR, METHOD_FILE = "adapter", "method.json"


def with_method(train: DictConfig) -> DictConfig:
    """`train` with its method filled in (`full` when absent) and the method's own lr, when it sets one, as `train.lr`.

    The values were checked when params.yaml was loaded (config.schema.Method).
    """
    method = train.get("method") or OmegaConf.create({"name": "full"})
    out = OmegaConf.merge(train, {"method": method})
    if method.get("lr") is not None:
        out.lr = float(method.lr)
    return out


def apply_method(model: nn.Module, train: DictConfig) -> nn.Module:
    """The classifier ready to train with the configured method (unchanged for `full`)."""
    method = train.method
    if method.name == "head_only":
        set_trainable(model, train, 0)
        return model
    if method.name == "full":
        return model
    from peft import LoraConfig, PromptTuningConfig, TaskType, get_peft_model

    if method.name == "lora":
        config = LoraConfig(task_type=TaskType.SEQ_CLS, r=method.r, lora_alpha=method.alpha,
                            lora_dropout=float(method.dropout), target_modules=list(method.target_modules),
                            modules_to_save=list(method.get("modules_to_save") or []) or None)
    else:
        config = PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=method.num_virtual_tokens)
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0]
        key = "target_modules" if method.name == "lora" else "name"
        raise PipelineError(f"train.method.{key}: peft cannot apply {method.name} to this model ({first})") from None


def head_parameters(model: nn.Module) -> set[str]:
    """Names of everything above the encoder layers (pooler and classifier head)."""
    layers = optim.encoder_layers(model)
    depths = optim.parameter_depths(model, layers)
    return {name for name, depth in depths.items() if depth == len(layers) + 1}


def set_trainable(model: nn.Module, train: DictConfig, epoch: int) -> int:
    """Per-epoch freezing: the optimiser module's for `full`, the head alone for `head_only`, and
    what peft marked trainable for adapter methods. Returns the number of trainable parameters."""
    name = train.method.name if train.get("method") else "full"
    if name == "full":
        return optim.set_trainable(model, train, epoch)
    if name == "head_only":
        head = head_parameters(model)
        for param_name, param in model.named_parameters():
            param.requires_grad_(param_name in head)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def peak_memory_mb(device: torch.device) -> float:
    """Peak CUDA memory allocated, or the process's peak resident set size on CPU."""
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 2**20 if sys.platform == "darwin" else peak / 2**10, 1)


def method_report(model: nn.Module, device: torch.device) -> dict[str, Any]:
    """Trainable and total parameters of the model as trained, and peak memory so far."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable_params": trainable, "total_params": total,
            "trainable_share": round(trainable / total, 6), "peak_memory_mb": peak_memory_mb(device)}


def save_model(model: nn.Module, train: DictConfig, out: Path, base_loader) -> None:
    """Write the trained model to `out` so `load_classifier(out)` opens it; adapters also alone in out/adapter.

    `base_loader()` returns a fresh copy of the pretrained classifier, saved under an unmerged adapter.
    """
    method = train.method
    if method.name in ("full", "head_only"):
        model.save_pretrained(out)
        return
    model.save_pretrained(out / ADAPTER_DIR)
    merged = method.name == "lora" and bool(method.get("merge", True))
    if merged:
        model.merge_and_unload().save_pretrained(out)
    else:
        base_loader().save_pretrained(out)
    write_json(out / METHOD_FILE, {"method": method.name, "merged": merged, "adapter": ADAPTER_DIR})


def with_saved_adapter(model: nn.Module, directory: str | Path) -> nn.Module:
    """The model `load_classifier` read from `directory`, with its unmerged adapter applied (if it has one).

    LoRA is merged on load, so evaluation and INT8 compression see a plain model; a prompt stays a peft model.
    """
    info_file = Path(directory) / METHOD_FILE
    if not info_file.is_file():
        return model
    info = read_json(info_file)
    if info["merged"]:
        return model
    from peft import PeftModel

    wrapped = PeftModel.from_pretrained(model, Path(directory) / info["adapter"])
    return wrapped.merge_and_unload() if info["method"] == "lora" else wrapped
