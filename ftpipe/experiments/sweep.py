"""sweep: run a grid of experiments and rank them.

    python -m ftpipe.experiments.sweep lr                          # the spec conf/sweep/lr.yaml
    python -m ftpipe.experiments.sweep train.lr=1e-5,3e-5 seed=1,2 # axes on the command line (Hydra multirun syntax)
    python -m ftpipe.experiments.sweep lr seed=7 --dry-run         # list the jobs, run nothing

Each job is a `dvc exp run` in this workspace (named `<sweep>-NN`) and an MLflow run nested under the
sweep's parent run. The report (ranked runs, seed averages, the winner) is printed, written to
`reports/sweeps/<sweep>/` and logged to the parent run. See docs/sweeps.md.
"""
from __future__ import annotations

import argparse

from ftpipe.experiments.cli import OneLineParser
from ftpipe.experiments.grid import STAGES, check_jobs, check_spec, expand, load_spec, with_cli
from ftpipe.infra.stage import run_stage


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = OneLineParser(prog="python -m ftpipe.experiments.sweep", description=__doc__.split("\n")[0])
    p.add_argument("items", nargs="*", metavar="SPEC | key=values",
                   help="a spec name in conf/sweep/ (or a .yaml path), then overrides such as train.lr=1e-5,3e-5")
    p.add_argument("--name", help="sweep name (default: the spec's); a timestamp is appended")
    p.add_argument("--metric", help="MLflow metric that ranks the runs (default: the spec's, or val/best_macro_f1)")
    p.add_argument("--mode", choices=["max", "min"], help="whether a higher or lower metric is better")
    p.add_argument("--target", choices=STAGES, help="last stage each job runs (default: evaluate)")
    p.add_argument("--dry-run", action="store_true", help="print the jobs and stop")
    p.add_argument("--apply-best", action="store_true", help="`dvc exp apply` the winner to the workspace")
    p.add_argument("--verbose", action="store_true", help="tracebacks on errors")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    spec_ref = args.items[0] if args.items and "=" not in args.items[0] else None
    spec = with_cli(load_spec(spec_ref), [i for i in args.items if i is not spec_ref])
    for key in ("metric", "mode", "target"):
        if getattr(args, key):
            setattr(spec, key, getattr(args, key))
    check_spec(spec, "command line")
    if args.dry_run:
        jobs = expand(spec)
        check_jobs(jobs)
        for number, job in enumerate(jobs, 1):
            print(f"{number:3d}  {' '.join(job)}")
        print(f"{len(jobs)} job(s), each `dvc exp run ... {spec.target}`; ranked by {spec.metric} ({spec.mode})")
        return
    from ftpipe.experiments.runner import run_sweep

    run_sweep(spec, args.name or spec_ref and spec_ref.rsplit("/", 1)[-1].removesuffix(".yaml"), args.apply_best)


if __name__ == "__main__":
    run_stage(main)
