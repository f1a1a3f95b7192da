"""The ablation through the sweep front door, end to end in a project copy: slow, opt-in."""
from __future__ import annotations

import json
import sys

import pytest

from ftpipe import ROOT
from tests.helpers.project import run


@pytest.mark.slow
def test_ablation_smoke_reports_mean_and_std_per_option(project, tmp_path):
    out = tmp_path / "ablation.json"
    run([sys.executable, str(ROOT / "bench" / "augment_ablation.py"), "--smoke", "--project", str(project),
         "--out", str(out)], project)
    result = json.loads(out.read_text())
    assert set(result["summary"]) == {"none", "synonym"}
    for row in result["summary"].values():
        assert 0.0 <= row["mean"] <= 1.0 and row["std"] >= 0.0 and row["runs"] == 1
    assert (project / "reports" / "sweeps" / result["sweep"] / "summary.md").is_file()
