"""The ablation's wiring end to end (clean, augment, tokenize, train, evaluate as subprocesses): slow, opt-in."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ftpipe import ROOT


@pytest.mark.slow
def test_ablation_smoke_reports_mean_and_std_per_option(tmp_path):
    out = tmp_path / "ablation.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "augment_ablation.py"), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["summary"]) == {"none", "synonym"}
    for row in result["summary"].values():
        assert 0.0 <= row["mean"] <= 1.0 and row["std"] >= 0.0 and row["runs"] == 1
    synonym = next(r for r in result["runs"] if r["option"] == "synonym")
    assert synonym["rows_added"] > 0
