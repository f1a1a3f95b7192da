"""compare: MLflow runs side by side.

    python -m ftpipe.experiments.compare sweeps                    # the latest sweeps
    python -m ftpipe.experiments.compare sweep [NAME | RUN_ID]     # a sweep's report (default: the latest sweep)
    python -m ftpipe.experiments.compare runs RUN_ID RUN_ID ...    # params that differ, metrics, Δ against the first

The store is --tracking-uri, else MLFLOW_TRACKING_URI, else params.yaml's mlflow.tracking_uri.
"""
from __future__ import annotations

import argparse
import os

import pandas as pd

from ftpipe.experiments import ranking
from ftpipe.experiments.cli import OneLineParser
from ftpipe.experiments.store import client, find_sweep, get_run, list_sweeps, store_uri
from ftpipe.infra.errors import PipelineError
from ftpipe.infra.io import write_csv
from ftpipe.infra.stage import run_stage
from ftpipe.tracking import keys


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = OneLineParser(prog="python -m ftpipe.experiments.compare", description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["sweeps", "sweep", "runs"])
    p.add_argument("refs", nargs="*", help="sweep name or parent run id (sweep); run ids (runs)")
    p.add_argument("--metric", help="metric that ranks / is compared (default: the sweep's, or val/best_macro_f1)")
    p.add_argument("--mode", choices=["max", "min"])
    p.add_argument("--metrics", help="comma-separated metric columns (default: "
                   + ",".join(ranking.DEFAULT_METRICS) + ")")
    p.add_argument("--csv", help="also write the table to this CSV file")
    p.add_argument("--tracking-uri")
    p.add_argument("--verbose", action="store_true", help="tracebacks on errors")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    mlc = client(store_uri(args.tracking_uri))
    metrics = args.metrics.split(",") if args.metrics else None
    if args.what == "sweeps":
        rows = [{"sweep": r.data.tags.get("sweep.name"), "parent run": r.info.run_id, "status": r.info.status,
                 "jobs": r.data.tags.get("sweep.jobs"), "axes": r.data.tags.get("sweep.axes"),
                 "best exp": r.data.tags.get("sweep.best_exp", "-")} for r in list_sweeps(mlc)]
        print(ranking.markdown(pd.DataFrame(rows)) if rows else "no sweeps yet")
        return
    if args.what == "sweep":
        if len(args.refs) > 1:
            raise PipelineError("compare sweep: give one sweep name or parent run id")
        from ftpipe.experiments.report import sweep_report

        report = sweep_report(mlc, find_sweep(mlc, args.refs[0] if args.refs else None), args.metric, args.mode,
                              metrics)
        print(report.text)
        table = report.runs
    else:
        if len(args.refs) < 2:
            raise PipelineError("compare runs: give at least two run ids")
        runs = [get_run(mlc, ref) for ref in args.refs]
        df = ranking.runs_frame(runs)
        metric = args.metric or keys.RANK
        ranking.metric_or_fail(df, metric)
        shown = [m for m in dict.fromkeys([metric, *(metrics or ranking.DEFAULT_METRICS)]) if f"metric:{m}" in df]
        table = ranking.with_delta(ranking.display(df, ranking.varying_params(df), shown), metric)
        print(ranking.markdown(table))
        print(f"\nIn the MLflow UI (`make ui`): "
              f"{ranking.compare_url([r.info.run_id for r in runs], [r.info.experiment_id for r in runs])}")
    if args.csv:
        write_csv(args.csv, table)


if __name__ == "__main__":
    os.environ.setdefault("FTPIPE_NO_LOCK", "1")  # read-only: works while a sweep or pipeline holds the lock
    run_stage(main)
