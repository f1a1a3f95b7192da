"""The pipeline benchmark (`dvc repro`, stage by stage, and no-op reruns) in --smoke mode. No timing is asserted."""
from __future__ import annotations

import json

import pytest

from bench import report


@pytest.mark.slow
def test_pipeline_smoke(bench_results):
    from bench import pipeline

    pipeline.main(["--smoke"])
    out = json.loads((bench_results / "pipeline.json").read_text())["results"]
    assert set(out["stage_seconds"]) == set(pipeline.STAGES) and out["noop_repro_seconds"] > 0
    assert "no-op" in report.render(bench_results)
