"""The sweep command refuses a bad sweep with one line before anything runs."""
from __future__ import annotations

import sys

import pytest

from ftpipe import ROOT
from tests.helpers.project import run


@pytest.mark.parametrize("args, message", [
    (["train.lrx=1,2"], "sweep job 1 (train.lrx=1): Could not override 'train.lrx'"),
    (["train.lr=interval(0,1)"], "does not support sweep type : INTERVAL_SWEEP"),
    (["nosuch"], "nosuch.yaml: no such sweep spec (known in sweep/: lr, quick)"),
    (["lr", "--mode", "best"], "argument --mode: invalid choice"),
    (["seed=1"], None),  # a single job is allowed; checked to run below
])
def test_bad_sweeps_stop_with_one_line_before_anything_runs(tmp_path, args, message):
    result = run([sys.executable, "-m", "ftpipe.experiments.sweep", *args, "--dry-run"], ROOT, check=False)
    if message is None:
        assert result.returncode == 0 and "1 job(s)" in result.stdout
        return
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
