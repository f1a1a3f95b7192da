"""Does a longer recipe beat the default? Test accuracy of two confirmation sweeps, mean over seeds, Welch interval.

    ftpipe-sweep -m hparams_search=long_recipe                                   # search, ranked on validation
    ftpipe-sweep -m sweep.name=confirm_default mlflow.log_model=false seed=1,2,3
    ftpipe-sweep -m sweep.name=confirm_best mlflow.log_model=false <best trial's settings> seed=1,2,3
    python bench/long_recipe.py --project PATH     # reads both confirmations from PATH/mlflow.db

The search chooses on validation only; test accuracy is read here, once, for the setting it chose. The claim tested
is the issue's: the candidate's mean test accuracy over seeds is at least `--margin` above the default's. Seed noise
is a Welch 95 % interval on the difference of the means; each run's own bootstrap interval (test-set noise) is listed
beside it. Written to bench/results/long_recipe.json.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from ftpipe.infra.io import write_json  # noqa: E402

RECIPE = ("train.epochs", "train.lr", "train.batch_size", "train.warmup_ratio", "train.layerwise_lr_decay")


def sweep_runs(project: Path, name: str) -> list[dict]:
    """Each finished job of sweep `name`: its seed, recipe, validation and test figures."""
    from ftpipe.experiments.ranking import latest_attempts, runs_frame
    from ftpipe.experiments.store import children, client, find_sweep, store_uri

    mlc = client(store_uri(f"sqlite:///{project / 'mlflow.db'}"))
    frame = latest_attempts(runs_frame(children(mlc, find_sweep(mlc, name))))
    rows = []
    for _, r in frame[frame["status"].eq("FINISHED")].iterrows():
        rows.append({"seed": int(r["param:seed"]), "run": r["run"],
                     **{k: r.get(f"param:{k}") for k in RECIPE},
                     "val_macro_f1": r["metric:val/best_macro_f1"], "test_accuracy": r["metric:test/accuracy"],
                     "test_accuracy_ci95": [r["metric:test/accuracy_ci95_low"], r["metric:test/accuracy_ci95_high"]],
                     "train_seconds": r.get("metric:train/seconds")})
    if not rows:
        raise SystemExit(f"{project}: sweep {name} has no finished job")
    return sorted(rows, key=lambda row: row["seed"])


def compare(reference: list[dict], candidate: list[dict], margin: float) -> dict:
    from ftpipe.experiments.ranking import welch_interval

    a = np.array([r["test_accuracy"] for r in candidate])
    b = np.array([r["test_accuracy"] for r in reference])
    diff, (low, high) = welch_interval(a, b) if min(len(a), len(b)) > 1 else (float(a.mean() - b.mean()),
                                                                               (float("nan"),) * 2)
    return {"candidate_mean": round(float(a.mean()), 4), "reference_mean": round(float(b.mean()), 4),
            "candidate_std": round(statistics.stdev(a), 4) if len(a) > 1 else None,
            "reference_std": round(statistics.stdev(b), 4) if len(b) > 1 else None,
            "difference": round(diff, 4), "welch95": [round(low, 4), round(high, 4)], "margin": margin,
            "meets_margin": diff >= margin, "beyond_seed_noise": low > 0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=REPO, help="the project whose mlflow.db holds both sweeps")
    parser.add_argument("--reference", default="confirm_default")
    parser.add_argument("--candidate", default="confirm_best")
    parser.add_argument("--margin", type=float, default=0.01, help="test accuracy the candidate must gain (0.01: 1 pt)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "long_recipe.json")
    args = parser.parse_args(argv)
    reference, candidate = sweep_runs(args.project, args.reference), sweep_runs(args.project, args.candidate)
    verdict = compare(reference, candidate, args.margin)
    print("| recipe | seed | val macro-F1 | test accuracy [bootstrap 95 %] | train s |\n|---|---|---|---|---|")
    for label, rows in (("default", reference), ("candidate", candidate)):
        for r in rows:
            low, high = r["test_accuracy_ci95"]
            print(f"| {label} | {r['seed']} | {r['val_macro_f1']:.4f} | {r['test_accuracy']:.4f} [{low:.4f}, "
                  f"{high:.4f}] | {r['train_seconds'] or float('nan'):.0f} |")
    low, high = verdict["welch95"]
    print(f"\ncandidate {verdict['candidate_mean']:.4f} vs default {verdict['reference_mean']:.4f}: "
          f"{100 * verdict['difference']:+.2f} pt, Welch 95 % [{100 * low:+.2f}, {100 * high:+.2f}] pt over seeds; "
          f"{'meets' if verdict['meets_margin'] else 'misses'} the {100 * args.margin:.1f}-pt margin")
    write_json(args.out, {"reference": {"sweep": args.reference, "runs": reference},
                          "candidate": {"sweep": args.candidate, "runs": candidate}, "verdict": verdict})


if __name__ == "__main__":
    main()
