"""torch_int8: PyTorch dynamic quantization (int8 Linear weights, activations quantized per call).

Why `torch.ao.quantization.quantize_dynamic` and not torchao: torchao 0.18's CPU path for
int8-dynamic Linear is a tensor subclass aimed at `torch.compile`; in eager mode on this CPU it was
slower than fp32 (see the stage report), while torch.ao's fbgemm kernels are fast in eager mode and
need no extra package. torch 2.13 only warns about the deprecation, so it is the one used here.
"""
from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Callable

import torch

from .runtime import quantize_torch

FILE = "model_int8.pt"


def torch_int8(model: torch.nn.Module, embeddings: bool) -> torch.nn.Module:
    """A quantized copy; the fp32 model is left untouched for the other variants."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization.*", category=DeprecationWarning)
        return quantize_torch(copy.deepcopy(model).eval(), embeddings=embeddings)


def save_torch_int8(quantized: torch.nn.Module) -> Callable[[Path], list[str]]:
    """Writer: the config to rebuild the architecture plus the quantized state dict."""
    def write(tmp: Path) -> list[str]:
        quantized.config.save_pretrained(tmp)
        torch.save(quantized.state_dict(), tmp / FILE)
        return [FILE, "config.json"]
    return write
