"""Does augmentation help? Each augment option on a low-data train split, test accuracy as mean ± std over seeds.

    python bench/augment_ablation.py            # hparams_search=augment_ablation: 4 options x 3 seeds (~40 min)
    python bench/augment_ablation.py --smoke    # 2 options, 1 seed, 40 train rows: proves the wiring, not the effect

A thin reader of the sweep front door: it runs `ftpipe-sweep -m hparams_search=augment_ablation` (each job a DVC
experiment and an MLflow run under one parent), then turns the sweep's report into bench/results/augment_ablation.json.
The sweep is named after the git commit, so an interrupted ablation resumes where it stopped.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.common import commit_name, sweep  # noqa: E402
from ftpipe.infra.io import write_json  # noqa: E402

SMOKE = ["augment=none,synonym", "seed=1", "data.max_rows=600", "data.max_train_rows=40", "model.max_length=64"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=REPO, help="the project to sweep in (default: this one)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "augment_ablation.json")
    parser.add_argument("--smoke", action="store_true", help="2 options, 1 seed, 40 train rows, 600 rows in all")
    parser.add_argument("overrides", nargs="*", help="more sweep overrides, e.g. seed=1,2,3,4,5")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    name = commit_name(args.project, "augment-ablation-smoke" if args.smoke else "augment-ablation")
    sweep(args.project, name, "hparams_search=augment_ablation", "mlflow.experiment=augment-ablation",
          "sweep.target=evaluate", *(SMOKE if args.smoke else []), *args.overrides)
    write_json(args.out, summarise(args.project, name, args.smoke))
    print(f"written: {args.out}")


def summarise(project: Path, name: str, smoke: bool) -> dict:
    """Per option: mean, std and count of test accuracy over seeds, and the difference from `none`."""
    import pandas as pd

    runs = pd.read_csv(project / "reports" / "sweeps" / name / "runs.csv")
    done = runs[runs["status"] == "FINISHED"]
    table = {}
    for option, part in done.groupby("augment", sort=False):
        scores = part["test/accuracy"]
        table[str(option)] = {"mean": float(scores.mean()), "std": float(scores.std(ddof=1)) if len(scores) > 1
                              else 0.0, "runs": int(len(scores))}
    base = table.get("none", {}).get("mean")
    for row in table.values():
        row["delta_vs_none"] = None if base is None else row["mean"] - base
    print("| augment | test accuracy (mean ± std) | runs | Δ vs none |\n|---|---|---|---|")
    for option, row in table.items():
        delta = "" if row["delta_vs_none"] is None else f"{row['delta_vs_none']:+.4f}"
        print(f"| {option} | {row['mean']:.4f} ± {row['std']:.4f} | {row['runs']} | {delta} |")
    return {"sweep": name, "smoke": smoke, "summary": table, "runs": done.to_dict("records")}


if __name__ == "__main__":
    main()
