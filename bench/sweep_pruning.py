"""Does pruning pay? The same 12-trial Optuna search with a pruner and without, side by side.

    python bench/sweep_pruning.py             # MiniLM, 1,500 rows of Rotten Tomatoes, up to 8 epochs a trial (~75 min)
    python bench/sweep_pruning.py --pruner median   # the other pruner
    python bench/sweep_pruning.py --evals-per-epoch 2 --out bench/results/sweep_pruning_evals2_sh.json
        # validate (and report to the pruner) twice an epoch: the measured setting that met the target (~40 min)
    python bench/sweep_pruning.py --smoke     # the tiny test model, 3 trials: checks the wiring only

Both searches run through the sweep front door in one scratch copy of the project (whose data stages are built
once beforehand, so neither pays for them), with the same space, sampler and seed. Written to
bench/results/sweep_pruning.json: each search's wall time, best validation macro-F1, and trial states.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.common import sweep  # noqa: E402
from ftpipe.experiments.workspace import copy_project  # noqa: E402
from ftpipe.infra.io import write_json  # noqa: E402

SPACE = ["train.lr=tag(log, interval(1e-6, 3e-4))", "train.batch_size=choice(16, 32)"]
DATA = ["data.max_rows=1500", "data.audit.enabled=false", "mlflow.log_model=false", "sweep.target=train"]
# each pruner's settings as measured: the median pruner as configured by default (conf/hydra/sweeper/optuna.yaml:
# 2 startup trials, no warm-up); successive halving keeps the top third at steps 1, 3 and 9
PRUNERS = {"none": [], "median": [],
           "successive_halving": ["hydra.sweeper.pruner.min_resource=1", "hydra.sweeper.pruner.reduction_factor=3"]}


def search(project: Path, pruner: str, trials: int, extra: list[str]) -> dict:
    import optuna

    name = f"pruning-{pruner}"
    start = time.perf_counter()
    sweep(project, name, "hydra/sweeper=optuna", f"hydra.sweeper.n_trials={trials}",
          f"hydra.sweeper.pruner.name={pruner}", *PRUNERS[pruner], "hydra.sweeper.sampler.seed=0", *SPACE, *DATA,
          *extra)
    seconds = time.perf_counter() - start
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{project / 'multirun' / name / 'optuna.db'}")
    states = [t.state.name for t in study.trials]
    print(f"{name}: {seconds:.0f} s, best {study.best_value:.4f}, {states.count('PRUNED')} pruned", flush=True)
    return {"seconds": round(seconds, 1), "best_val_macro_f1": round(study.best_value, 4),
            "best_params": study.best_params, "states": states,
            "values": [None if t.value is None else round(t.value, 4) for t in study.trials],
            "epochs_run": [len(t.intermediate_values) for t in study.trials],
            "curves": curves(project, name, study)}


def curves(project: Path, name: str, study) -> list[dict]:
    """Each trial's cost and validation curve, for bench/pruning_replay.py: seconds from the trial's start to each
    validation (MLflow's timestamps) and to the trial's end (Optuna's). `epoch` is the validation's number, which
    is the epoch unless train.evals_per_epoch > 1."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              filter_string=f"tags.`sweep.exp` LIKE '{name}-%'")
    by_trial = {r.data.tags["sweep.job_key"].rsplit("trial=", 1)[1]: r.info.run_id for r in runs}
    out = []
    for t in study.trials:
        start, run_id = t.datetime_start.timestamp(), by_trial[str(t._trial_id)]
        f1, loss = ({m.step: m for m in client.get_metric_history(run_id, key)} for key in ("val/macro_f1", "val/loss"))
        out.append({"state": t.state.name, "seconds": round(t.datetime_complete.timestamp() - start, 1),
                    "epochs": [{"epoch": e, "val_macro_f1": round(f1[e].value, 4), "val_loss": round(loss[e].value, 4),
                                "at_s": round(f1[e].timestamp / 1000 - start, 1)} for e in sorted(f1)]})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, help="the most epochs a trial may train (default 8, --smoke 2)")
    parser.add_argument("--pruner", choices=["median", "successive_halving"], default="successive_halving")
    parser.add_argument("--smoke", action="store_true", help="tiny model, 3 trials")
    parser.add_argument("--model", help="model.name_or_path (default: the packaged MiniLM)")
    parser.add_argument("--evals-per-epoch", type=int, default=1, help="train.evals_per_epoch: validations (and "
                        "reports to the pruner) an epoch")
    parser.add_argument("--patience", type=int, help="train.early_stopping.patience, in validations (default: 2 "
                        "epochs' worth, 2 x --evals-per-epoch, so early stopping waits as long whatever the steps)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "sweep_pruning.json")
    args = parser.parse_args(argv)
    extra = [f"model.name_or_path={args.model}"] if args.model else []
    epochs, trials = (args.epochs or 2, 3) if args.smoke else (args.epochs or 8, args.trials)
    patience = args.patience or 2 * args.evals_per_epoch
    extra += [f"train.epochs={epochs}", f"train.evals_per_epoch={args.evals_per_epoch}",
              f"train.early_stopping.patience={patience}"]
    project = copy_project(Path(tempfile.mkdtemp(prefix="sweep-pruning-")) / "project", REPO)
    compose = [sys.executable, "-m", "ftpipe.config.compose", *(o for o in DATA if not o.startswith("sweep.")), *extra]
    subprocess.run(compose, cwd=project, check=True)
    subprocess.run(["dvc", "repro", "tokenize"], cwd=project, check=True)  # the data stages, once, for both
    results = {"settings": {"trials": trials, "space": SPACE, "data": DATA, "model": args.model or "MiniLM-L6",
                            "epochs": epochs, "evals_per_epoch": args.evals_per_epoch, "patience": patience,
                            "sampler": "tpe, seed 0",
                            "pruner": [args.pruner, *PRUNERS[args.pruner]], "project": str(project)}}
    for pruner in ("none", args.pruner):
        results[pruner] = search(project, pruner, trials, extra)
    none, pruned = results["none"], results[args.pruner]
    results["time_share_with_pruning"] = round(pruned["seconds"] / none["seconds"], 3)
    results["best_gap_points"] = round(100 * (pruned["best_val_macro_f1"] - none["best_val_macro_f1"]), 2)
    write_json(args.out, results)
    print(f"pruning took {results['time_share_with_pruning']:.0%} of the time; best differs by "
          f"{results['best_gap_points']:+.2f} pt; written: {args.out}")


if __name__ == "__main__":
    main()
