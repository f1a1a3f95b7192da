"""Fixtures only (helpers live in tests/helpers/): a copy of the project to run real DVC in, and tiny models."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ftpipe import ROOT
from ftpipe.experiments.workspace import copy_project
from tests.helpers.data import SNIPPET_NAMES, SNIPPETS
from tests.helpers.models import minilm_tokenizer, tiny_bert, zh_tokenizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the project (code, conf, dvc.yaml) in its own git + DVC repository."""
    return copy_project(tmp_path / "project", ROOT)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT encoder (no head, like the packaged MiniLM) with the MiniLM tokenizer."""
    out = tmp_path_factory.mktemp("tiny-bert")
    tiny_bert(minilm_tokenizer(), out)
    return out


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory):
    """(model, tokenizer, directory) of a 4-layer, 32-wide BERT classifier (random, in eval mode) with the MiniLM
    tokenizer and the labels negative/positive; the directory is what train writes to models/finetuned/."""
    tokenizer = minilm_tokenizer()
    directory = tmp_path_factory.mktemp("tiny") / "finetuned"
    model = tiny_bert(tokenizer, directory, layers=4, labels=SNIPPET_NAMES, max_positions=512).eval()
    return model, tokenizer, directory


@pytest.fixture(scope="session")
def bundles(tiny_classifier, tmp_path_factory) -> dict[str, Path]:
    """tiny_classifier as fp32, torch_int8, onnx_fp32 and onnx_int8 (both weight types) variant directories."""
    from ftpipe.compression import bundle, onnx_export, quantize
    from ftpipe.compression.predictor import encode

    model, tokenizer, _ = tiny_classifier
    root = tmp_path_factory.mktemp("variants")

    def write(name, fmt, writer, **extra):
        return bundle.write_bundle(root / name, fmt, writer, tokenizer, SNIPPET_NAMES, 32, **extra)

    dirs = {"fp32": write("fp32", "hf", bundle.save_hf(model)),
            "torch_int8": write("torch_int8", "torch_int8", quantize.save_torch_int8(quantize.torch_int8(model, True)),
                                embeddings=True),
            "onnx_fp32": write("onnx_fp32", "onnx", onnx_export.export_onnx(model, encode(tokenizer, SNIPPETS[:2], 32),
                                                                             18, "dynamo"))}
    for weight_type in ("QInt8", "QUInt8"):
        dirs[f"onnx_int8_{weight_type}"] = write(f"onnx_int8_{weight_type}", "onnx", onnx_export.quantize_onnx(
            dirs["onnx_fp32"] / onnx_export.FILE, weight_type))
    return dirs


@pytest.fixture(scope="session")
def zh_model_dir(tmp_path_factory) -> Path:
    """A 2-layer BERT classifier on a WordPiece vocabulary trained here on the shipped Chinese sample (no
    multilingual weights are available offline)."""
    out = tmp_path_factory.mktemp("zh-bert")
    tiny_bert(zh_tokenizer(), out, head=True)
    return out


@pytest.fixture
def write_table(tmp_path: Path):
    """Write rows to a CSV/JSONL/Parquet file in tmp_path; returns its path."""
    import pandas as pd

    def _write(name: str, rows: list[dict] | None = None, raw: bytes | None = None) -> Path:
        path = tmp_path / name
        if raw is not None:
            path.write_bytes(raw)
        elif name.endswith(".csv"):
            pd.DataFrame(rows).to_csv(path, index=False)
        elif name.endswith(".jsonl"):
            pd.DataFrame(rows).to_json(path, orient="records", lines=True)
        else:
            pd.DataFrame(rows).to_parquet(path, index=False)
        return path

    return _write


@pytest.fixture
def bench_results(tmp_path: Path, monkeypatch) -> Path:
    """Where a benchmark script run with --smoke writes its JSON (FTPIPE_BENCH_RESULTS points to tmp_path)."""
    monkeypatch.setenv("FTPIPE_BENCH_RESULTS", str(tmp_path))
    return tmp_path / "smoke"
