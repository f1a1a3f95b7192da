"""Does a loss for class imbalance help? Test macro-F1, accuracy and per-class recall per loss, mean ± std over seeds.

    python bench/imbalance.py                    # hparams_search=imbalance: 3 losses x 2 weightings x seeds 1 2 3
    python bench/imbalance.py seed=1 train.epochs=1          # more sweep overrides
    python bench/imbalance.py --table            # bench/results/imbalance.json as docs/imbalance.md's table

A thin reader of the sweep front door: it runs `ftpipe-sweep -m hparams_search=imbalance` (data=debates_imbalanced;
clean, augment and tokenize once, since they do not read train.* or the training seed), then reads each job's test
figures from MLflow into bench/results/imbalance.json. The sweep is named after the git commit, so it resumes.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.common import commit_name, sweep  # noqa: E402
from ftpipe.infra.io import write_json  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=REPO, help="the project to sweep in (default: this one)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "imbalance.json")
    parser.add_argument("--table", action="store_true", help="print --out's results as a markdown table; run nothing")
    parser.add_argument("overrides", nargs="*", help="more sweep overrides, e.g. seed=1,2,3,4,5")
    return parser.parse_args(argv)


def variant(params: dict) -> str:
    weights = "_balanced" if params.get("train.class_weights") == "balanced" else ""
    return f"{params.get('train.loss', 'cross_entropy')}{weights}"


def job_rows(project: Path, name: str) -> list[dict]:
    """Each finished job's test figures, from its MLflow run."""
    from ftpipe.experiments.store import children, client, find_sweep, store_uri

    mlc = client(store_uri(f"sqlite:///{project / 'mlflow.db'}"))
    rows = []
    for run in children(mlc, find_sweep(mlc, name)):
        m, p = run.data.metrics, run.data.params
        if run.info.status != "FINISHED" or "test/macro_f1" not in m:
            continue
        recall = {f"recall/{k.split('/')[2]}": v for k, v in m.items()
                  if k.startswith("test/class/") and k.endswith("/recall")}
        rows.append({"variant": variant(p), "seed": int(p["seed"]), "macro_f1": m["test/macro_f1"],
                     "accuracy": m["test/accuracy"], **recall, "run": run.info.run_name})
    return rows


def summarise(runs: list[dict]) -> dict[str, dict]:
    figures = [k for k in runs[0] if k in ("macro_f1", "accuracy") or k.startswith("recall/")]
    table = {}
    for name in dict.fromkeys(r["variant"] for r in runs):
        rows = [r for r in runs if r["variant"] == name]
        table[name] = {k: {"mean": round(statistics.fmean(r[k] for r in rows), 4),
                           "std": round(statistics.stdev(r[k] for r in rows), 4) if len(rows) > 1 else 0.0}
                       for k in figures} | {"runs": len(rows)}
    return table


def markdown(results: dict) -> str:
    """One row per variant: mean ± std of each figure over the seeds."""
    figures = [k for k in next(iter(results["summary"].values())) if k != "runs"]
    lines = ["| variant | " + " | ".join(f.replace("recall/", "recall ") for f in figures) + " |",
             "|---" * (len(figures) + 1) + "|"]
    for name, row in results["summary"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row[f]['mean']:.3f} ± {row[f]['std']:.3f}" for f in figures)
                     + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.table:
        print(markdown(json.loads(args.out.read_text())))
        return
    name = commit_name(args.project, "imbalance")
    sweep(args.project, name, "hparams_search=imbalance", *args.overrides)
    runs = job_rows(args.project, name)
    if not runs:
        raise SystemExit(f"error: no job of the sweep {name} finished with test figures")
    results = {"sweep": name, "overrides": args.overrides, "summary": summarise(runs), "runs": runs}
    write_json(args.out, results)
    print(markdown(results))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
