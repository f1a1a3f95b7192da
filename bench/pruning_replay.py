"""Which pruner would have paid? Replay a measured unpruned search's real curves through Optuna's own pruners.

    python bench/pruning_replay.py     # the "none" search in bench/results/sweep_pruning.json

Each trial of the unpruned search is fed, epoch by epoch, to a real Optuna study with the pruner under test, in the
order it ran. A trial the pruner stops costs what the measured trial had cost by the end of that epoch, plus the
measured exit of a pruned job; the others cost their whole measured time. This is an estimate, not a measurement:
TPE's first 10 trials are random draws from its seed, the same with or without a pruner, but from the 11th on a
pruned search would have asked for other trials. bench/sweep_pruning.py measures the one that looks best here.
Written to bench/results/pruning_replay.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import optuna

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from ftpipe.infra.io import write_json  # noqa: E402
from ftpipe.tracking.trial import build_pruner  # noqa: E402

# built as the train stage builds them from the sweeper's `pruner` config (ftpipe.tracking.trial.build_pruner), so
# the replay tries exactly what `hydra.sweeper.pruner.*` would; hyperband is not a config choice yet
PRUNERS = {
    "median, 2 startup trials (the default)": {"name": "median", "n_startup_trials": 2},
    "median, 3 startup trials": {"name": "median", "n_startup_trials": 3},
    "median, 2 startup, 2 warm-up epochs": {"name": "median", "n_startup_trials": 2, "n_warmup_steps": 2},
    "successive halving, factor 2": {"name": "successive_halving", "min_resource": 1, "reduction_factor": 2},
    "successive halving, factor 3": {"name": "successive_halving", "min_resource": 1, "reduction_factor": 3},
    "hyperband, factor 3": lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=8, reduction_factor=3),
}
# what the sweep reports to the trial today (val_macro_f1), and the smoother loss for comparison (negated: the
# study maximises)
SIGNALS = {"val_macro_f1": 1.0, "val_loss": -1.0}


def replay(curves: list[dict], pruner, signal: str, exit_s: float) -> dict:
    """`pruner`: a sweeper `pruner` config, or a function making an Optuna pruner."""
    # a fixed name: hyperband puts each trial in a bracket by hashing the study's name, and a random one would make
    # the replay differ from run to run
    study = optuna.create_study(study_name="replay", direction="maximize",
                                pruner=pruner() if callable(pruner) else build_pruner(pruner))
    seconds, epochs, kept = 0.0, 0, []
    for trial_curve in curves:
        trial, rows = study.ask(), trial_curve["epochs"]
        stop = len(rows)
        for i, row in enumerate(rows):
            trial.report(SIGNALS[signal] * row[signal], row["epoch"])
            if i + 1 < len(rows) and trial.should_prune():   # the train stage never prunes its last epoch
                stop = i + 1
                break
        epochs += stop
        if stop < len(rows):
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            seconds += rows[stop - 1]["at_s"] + exit_s
        else:
            kept.append(max(r["val_macro_f1"] for r in rows))
            study.tell(trial, kept[-1])
            seconds += trial_curve["seconds"]
    return {"seconds": round(seconds, 1), "best_val_macro_f1": max(kept), "epochs": epochs,
            "pruned": len(curves) - len(kept)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "sweep_pruning.json")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pruning_replay.json")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    measured = json.loads(args.results.read_text())
    curves = measured["none"]["curves"]
    # a pruned job's exit (stage teardown, DVC, the study), as measured in the pruned search; 5 s if it has none
    exits = [c["seconds"] - c["epochs"][-1]["at_s"] for key in measured if isinstance(measured[key], dict)
             for c in measured[key].get("curves", []) if c["state"] == "PRUNED"]
    exit_s = statistics.median(exits) if exits else 5.0
    full = sum(c["seconds"] for c in curves)
    best = max(max(r["val_macro_f1"] for r in c["epochs"]) for c in curves if c["state"] == "COMPLETE")
    rows = []
    print(f"unpruned: {full:.0f} s of trials, best {best:.4f}; a pruned job's exit {exit_s:.1f} s\n")
    print("| pruner | signal | time share | best val macro-F1 | gap (pt) | pruned | epochs |")
    print("|---|---|---|---|---|---|---|")
    for name, pruner in PRUNERS.items():
        for signal in SIGNALS:
            r = replay(curves, pruner, signal, exit_s)
            r |= {"pruner": name, "signal": signal, "time_share": round(r["seconds"] / full, 3),
                  "gap_points": round(100 * (r["best_val_macro_f1"] - best), 2)}
            rows.append(r)
            print(f"| {name} | {signal} | {r['time_share']:.0%} | {r['best_val_macro_f1']:.4f} | "
                  f"{r['gap_points']:+.2f} | {r['pruned']} | {r['epochs']} |")
    write_json(args.out, {"source": args.results.name, "unpruned_seconds": round(full, 1),
                          "unpruned_best": best, "pruned_exit_s": exit_s, "replays": rows})


if __name__ == "__main__":
    main()
