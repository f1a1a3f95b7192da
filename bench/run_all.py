"""One command for every benchmark: results to bench/results/*.json, tables into BENCHMARKS.md.

    python -m bench.run_all              # the real figures (tens of minutes on 2 busy cores)
    python -m bench.run_all --smoke      # seconds-long check that every script still runs (tiny model)
    python -m bench.run_all --full-pipeline   # also the default full `dvc repro`, per stage (10+ minutes)
    python -m bench.run_all --only train_throughput,inference
    python -m bench.run_all --report-only     # re-render BENCHMARKS.md from bench/results/*.json

Smoke results go to bench/results/smoke/ and bench/results/smoke/BENCHMARKS.md, never into BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import time

from bench import inference, levers, pipeline, report, tokenization, train_throughput
from bench.common import RESULTS, ROOT

BENCHES = {"tokenization": tokenization.main, "inference": inference.main, "levers": levers.main,
           "train_throughput": train_throughput.main,
           "train_throughput_quick": lambda argv: train_throughput.main(["--quick", *argv]), "pipeline": pipeline.main}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--full-pipeline", action="store_true")
    parser.add_argument("--only", help=f"comma list of {', '.join(BENCHES)}")
    parser.add_argument("--report-only", action="store_true", help="only re-render BENCHMARKS.md from the results")
    args = parser.parse_args(argv)
    chosen = [] if args.report_only else args.only.split(",") if args.only else list(BENCHES)
    for name in chosen:
        start = time.perf_counter()
        BENCHES[name](["--smoke"] if args.smoke else [])
        print(f"{name}: done in {time.perf_counter() - start:.0f} s", flush=True)
    if args.full_pipeline and not args.smoke and not args.report_only:
        pipeline.main(["--full-pipeline", "--repeats", "1"])
    if args.smoke:
        report.update(RESULTS / "smoke" / "BENCHMARKS.md", RESULTS / "smoke")
    else:
        report.update(ROOT / "BENCHMARKS.md", RESULTS)


if __name__ == "__main__":
    main()
