"""Hostile inputs for the clean stage: labelled files written as bytes, clean run in-process, its refusal checked."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ftpipe.config.compose import compose_config, write_params
from ftpipe.infra.errors import PipelineError
from tests.helpers.data import sentiment_rows
from tests.helpers.faults import inside

ROWS = sentiment_rows(30)  # 60 distinct texts, two classes


def csv_bytes(rows=ROWS, sep=",") -> bytes:
    return pd.DataFrame(rows).to_csv(index=False, sep=sep).encode()


def jsonl_bytes(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def clean_files(ws: Path, files: dict[str, bytes], *overrides: str) -> dict:
    """Write `files` under ws/data/raw, compose params (data=custom), run clean.main(); return its report."""
    for name, content in files.items():
        (ws / "data/raw").mkdir(parents=True, exist_ok=True)
        (ws / "data/raw" / name).write_bytes(content)
    first = next(iter(files), "train.csv")
    write_params(compose_config(["data=custom", f"data.path=data/raw/{first}", *overrides]), ws / "params.yaml")
    with inside(ws):
        from stages import clean
        clean.main()
    return json.loads((ws / "metrics/clean.json").read_text())


def assert_clean_fails(ws: Path, files: dict[str, bytes], expected: list[str], *overrides: str) -> str:
    """clean refuses with one line holding every `expected` part, and writes nothing."""
    with pytest.raises(PipelineError) as raised:
        clean_files(ws, files, *overrides)
    message = str(raised.value)
    assert "\n" not in message, message
    for part in expected:
        assert part in message, message
    assert not (ws / "data/clean").exists() and not (ws / "metrics/clean.json").exists()
    return message
