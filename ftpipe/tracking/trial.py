"""The Optuna trial a sweep job trains for, seen from inside the train stage: report each epoch, stop if pruned.

The sweep (hydra_plugins.ftpipe_optuna_sweeper) puts the trial in TRIAL_ENV; train reports the validation figure of
every epoch to the study's storage, and asks the pruner whether to go on. A pruned training writes no outputs: DVC
keeps nothing for it, and its MLflow run ends KILLED with the tag `sweep.state = PRUNED`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from ftpipe.infra.errors import PipelineError

TRIAL_ENV = "FTPIPE_OPTUNA_TRIAL"  # JSON: storage, study, trial_id, column (the epoch row's key), pruner
STATE_TAG = "sweep.state"          # COMPLETE | PRUNED | FAILED: MLflow has no PRUNED status of its own


class Pruned(PipelineError):
    """The sweep's pruner stopped this training early: no outputs, and the sweep goes on."""


def build_pruner(spec: Mapping[str, Any]):
    """An Optuna pruner from the sweeper's `pruner` config; the train stage rebuilds the same one from TRIAL_ENV,
    since a study's storage does not keep its pruner."""
    import optuna

    name = spec.get("name", "median")
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=int(spec.get("n_startup_trials", 2)),
                                           n_warmup_steps=int(spec.get("n_warmup_steps", 0)))
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=int(spec.get("min_resource", 1)),
                                                      reduction_factor=int(spec.get("reduction_factor", 2)))
    if name == "none":
        return optuna.pruners.NopPruner()
    raise PipelineError(f"hydra.sweeper.pruner.name: {name!r} is not a pruner; use median, successive_halving or none")


def epoch_column(metric: str) -> str:
    """The epoch row's key for a ranking metric: `val/best_macro_f1` is reported each epoch as `val_macro_f1`."""
    if not metric.startswith("val/best_"):
        raise PipelineError(f"sweep.metric: {metric!r} cannot prune; Optuna needs a per-epoch validation metric "
                            "such as val/best_macro_f1 or val/best_accuracy")
    return "val_" + metric[len("val/best_"):]


def report(row: Mapping[str, Any], step: int, last: bool = False) -> None:
    """Report validation number `step` (the epoch, unless train.evals_per_epoch > 1) to the sweep's trial, if
    there is one; raise Pruned when the pruner says stop, unless this was the `last` one."""
    raw = os.environ.get(TRIAL_ENV)
    spec = json.loads(raw) if raw else {}
    if not spec.get("column"):  # not in an Optuna sweep, or its metric has no per-epoch figure
        return
    import optuna

    study = optuna.load_study(study_name=spec["study"], storage=spec["storage"], pruner=build_pruner(spec["pruner"]))
    trial = optuna.trial.Trial(study, int(spec["trial_id"]))
    value = float(row[spec["column"]])
    trial.report(value, step=step)
    if not last and trial.should_prune():
        raise Pruned(f"train: pruned by the sweep's {spec['pruner']['name']} pruner at epoch {float(row['epoch']):.3g} "
                     f"({spec['column']} {value:.4f}); a pruned trial writes no outputs")
