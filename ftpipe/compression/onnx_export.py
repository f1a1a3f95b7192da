"""onnx_fp32 / onnx_int8: export to ONNX with dynamic batch and sequence axes, run with ONNX Runtime."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import torch

from ftpipe.infra.errors import PipelineError

FILE = "model.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class LogitsOnly(torch.nn.Module):
    """Positional inputs in, logits out: a plain signature the exporters and ORT agree on."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits


def export_onnx(model: torch.nn.Module, sample: dict[str, np.ndarray], opset: int, exporter: str
                ) -> Callable[[Path], list[str]]:
    """Writer for `write_bundle`; the dynamo exporter also writes `model.onnx.data` beside the graph."""
    if exporter not in ("dynamo", "legacy"):
        raise PipelineError(f"compress.onnx.exporter: expected dynamo or legacy, got '{exporter}'")

    def write(tmp: Path) -> list[str]:
        args = tuple(torch.from_numpy(sample[name]) for name in INPUTS)
        axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS} | {"logits": {0: "batch"}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(LogitsOnly(model.eval()), args, str(tmp / FILE), input_names=list(INPUTS),
                              output_names=["logits"], dynamic_axes=axes, opset_version=opset,
                              dynamo=exporter == "dynamo")
        return [FILE] + sorted(p.name for p in tmp.iterdir() if p.name.startswith(FILE + "."))
    return write


def max_abs_diff(model: torch.nn.Module, predictor, batches: list[dict[str, np.ndarray]]) -> float:
    """Largest |logit difference| between PyTorch and the exported graph over real batches."""
    worst = 0.0
    with torch.inference_mode():
        for batch in batches:
            expected = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
            worst = max(worst, float(np.abs(predictor.logits(batch) - expected).max()))
    return worst


def without_value_info(source: Path) -> onnx.ModelProto:
    """The graph with its intermediate shape annotations dropped.

    The dynamo exporter annotates shapes that ONNX's own shape inference (run by ORT's quantizer)
    rejects as inconsistent; both re-infer them anyway.
    """
    model = onnx.load(str(source))  # pulls in model.onnx.data
    del model.graph.value_info[:]
    return model


def quantize_onnx(source: Path, weight_type: str, per_channel: bool = True) -> Callable[[Path], list[str]]:
    """Writer: ORT dynamic quantization (MatMul weights and the embedding Gathers to 8 bit).

    Per-channel weight scales: per-tensor ones cost MiniLM 1.1-1.3 accuracy points, per-channel 0-0.4.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if weight_type not in ("QInt8", "QUInt8"):
        raise PipelineError(f"compress.onnx.weight_type: expected QInt8, QUInt8 or auto, got '{weight_type}'")

    def write(tmp: Path) -> list[str]:
        prepared = tmp / "prepared.onnx"
        onnx.save(without_value_info(source), str(prepared))
        quantize_dynamic(str(prepared), str(tmp / FILE), weight_type=getattr(QuantType, weight_type),
                         per_channel=per_channel)
        prepared.unlink()
        return [FILE] + sorted(p.name for p in tmp.iterdir() if p.name.startswith(FILE + "."))
    return write
