"""torch_int8: PyTorch dynamic quantization (int8 Linear weights, activations quantized per call).

Why `torch.ao.quantization.quantize_dynamic` and not torchao: tried side by side on the fine-tuned
MiniLM (1 thread, batch 1, this 2-core CPU), torchao 0.18's `Int8DynamicActivationInt8WeightConfig`
ran in eager mode at 64 ms per call against 36 ms for fp32 (its int8 path is a tensor subclass
meant for `torch.compile`), left the embeddings in fp32 (59 MB on disk) and needs one more package;
torch.ao's fbgemm kernels are faster than fp32 in eager mode and also quantize embeddings.
torch 2.13 only warns that torch.ao is deprecated, so torch.ao is used; revisit when it goes.
Linear weights are quantized per output channel: per-tensor scales cost 2.5 accuracy points on
MiniLM, per-channel 1.
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from ftpipe.compression.predictor import quantize_torch

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
