"""Question 5: pipeline overhead. DVC's no-op `dvc repro`, a one-stage rerun, and each stage's time.

Runs in a scratch copy of the project (its own git + DVC repo). By default on a small config
(300 rows, 1 epoch) so it takes minutes; `--full-pipeline` uses the default params.yaml (10+ minutes on
2 cores). Stages are run one by one (`dvc repro -s NAME`, in DAG order) so each gets its own time,
DVC's own overhead included (the no-op figure says how much that is).

    python -m bench.pipeline [--smoke] [--full-pipeline] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, median, model_path, write_result
from ftpipe.experiments.workspace import copy_project

STAGES = ["clean", "augment", "tokenize", "train", "evaluate", "compress"]
SMALL = ["data.max_rows=300", "train.epochs=1", "train.batch_size=16", "compress.latency.repeats=5",
         "compress.distill.layers=1",
         "mlflow.log_model=false"]


def scratch_project(dest: Path) -> Path:
    return copy_project(dest, ROOT)


def sh(cmd: list[str], cwd: Path) -> float:
    """Seconds the command took; raises with its output if it failed."""
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "PYTHONPATH": ""}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("FTPIPE_PARAMS", None)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def compose(project: Path, overrides: list[str]) -> None:
    sh([sys.executable, "-m", "ftpipe.config.compose", *overrides], project)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--full-pipeline", action="store_true", help="the default params (10+ minutes)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="bench-dvc-"))
    try:
        project = scratch_project(scratch / "project")
        overrides = [] if args.full_pipeline else list(SMALL)
        if args.smoke:
            args.repeats = 1
            overrides = ["data.max_rows=60", "train.epochs=1", "train.batch_size=16", "compress.latency.repeats=2",
                         "mlflow.log_model=false", f"model.name_or_path={model_path(True, scratch)}"]
        compose(project, overrides)
        stages = {name: round(sh(["dvc", "repro", "-s", name], project), 2) for name in STAGES}
        noop = [sh(["dvc", "repro"], project) for _ in range(args.repeats)]
        rerun = []
        for i in range(args.repeats):  # flip an evaluate-only param: only `evaluate` reruns
            compose(project, [*overrides, f"evaluate.calibration_bins={5 if i % 2 == 0 else 10}"])
            rerun.append(sh(["dvc", "repro"], project))
        payload = {"settings": vars(args) | {"overrides": overrides},
                   "results": {"stage_seconds": stages, "total_seconds": round(sum(stages.values()), 2),
                               "noop_repro_seconds": round(median(noop), 2),
                               "one_stage_rerun_seconds": round(median(rerun), 2), "one_stage": "evaluate",
                               "repeats": args.repeats}}
        write_result("pipeline_full" if args.full_pipeline else "pipeline", payload, args.smoke)
        return payload
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
