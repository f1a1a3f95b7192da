"""Optuna search over whole pipelines.

    python -m ftpipe.experiments.optuna_search rt_optuna [--trials N] [overrides...]


Each trial is one pipeline run in its own job directory (ftpipe.experiments.multirun), logged as a child of one MLflow
parent run per invocation. The study lives in sqlite storage, so running the same command again resumes it:
finished trials are kept and the sampler continues from them.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import yaml

from ftpipe.config.compose import compose_config
from ftpipe.experiments.multirun import ROOT, prepare_job_dir, run_pipeline
from ftpipe.infra.errors import PipelineError, interrupt_on_sigterm
from ftpipe.infra.logs import get_logger
from ftpipe.tracking.runs import PARENT_ENV, configure, tracking_uri

SPACES = ROOT / "conf" / "hparams_search"
log = get_logger("optuna")


def load_space(name: str) -> dict:
    path = Path(name) if name.endswith((".yaml", ".yml")) else SPACES / f"{name}.yaml"
    if not path.is_file():
        raise PipelineError(f"{path}: no such search space (see conf/hparams_search/)")
    return yaml.safe_load(path.read_text())


def suggest(trial, space: dict) -> list[str]:
    """Hydra overrides for one trial."""
    out = []
    for key, p in space["params"].items():
        if p["type"] == "float":
            value = trial.suggest_float(key, float(p["low"]), float(p["high"]), log=p.get("log", False))
        elif p["type"] == "int":
            value = trial.suggest_int(key, int(p["low"]), int(p["high"]))
        elif p["type"] == "categorical":
            value = trial.suggest_categorical(key, p["choices"])
        else:
            raise PipelineError(f"{key}: unknown type '{p['type']}' (float, int or categorical)")
        out.append(f"{key}={value}")
    return out


def search(space: dict, n_trials: int, fixed: list[str], out_dir: Path) -> float:
    import optuna
    from mlflow.tracking import MlflowClient

    from ftpipe.experiments.grid import SweepSpec
    from ftpipe.experiments.interrupts import aborting_parent_on_error
    from ftpipe.experiments.report import finish
    from ftpipe.experiments.runner import open_parent

    base = compose_config(fixed)
    study = optuna.create_study(study_name=space["study"], storage=_absolute(space["storage"]),
                                direction=space["direction"], load_if_exists=True)
    uri = tracking_uri(base)
    client = MlflowClient(uri)
    spec = SweepSpec(params={k: str(v) for k, v in space["params"].items()}, fixed=fixed,
                     mode="max" if space["direction"] == "maximize" else "min")
    parent = open_parent(client, configure(base), f"optuna-{space['study']}-{len(study.trials)}", spec, n_trials,
                         list(space["params"]))
    client.set_tag(parent, "optuna.study", space["study"])
    os.environ.update({PARENT_ENV: parent, "MLFLOW_TRACKING_URI": uri})

    def objective(trial) -> float:
        overrides = suggest(trial, space)
        job_dir = out_dir / space["study"] / f"trial-{trial.number}"
        cfg = compose_config([*fixed, *overrides])
        prepare_job_dir(job_dir, cfg)
        value = run_pipeline(job_dir, cfg, f"trial-{trial.number}-" + ",".join(overrides))
        if math.isnan(value):
            raise RuntimeError(f"trial {trial.number} failed (log: {job_dir / 'repro.log'})")
        return value

    try:
        with aborting_parent_on_error(client, parent, spec):   # Ctrl-C, SIGTERM, an error: never left RUNNING
            # a failed trial is recorded (optuna FAIL, MLflow FAILED) and the search goes on
            study.optimize(objective, n_trials=n_trials, catch=(RuntimeError,))
    finally:
        os.environ.pop(PARENT_ENV, None)
    client.set_terminated(parent, "FINISHED")
    finish(client, parent, spec)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    if not done:
        raise PipelineError(f"study {space['study']}: no trial finished")
    log.info("study %s: %d trial(s) in storage; best %s = %.4f with %s", space["study"], len(study.trials),
             space["objective"], study.best_value, study.best_params)
    return study.best_value


def _absolute(storage: str) -> str:
    """A relative sqlite path is the workspace's, wherever the command is run from."""
    if storage.startswith("sqlite:///") and not storage.startswith("sqlite:////"):
        return "sqlite:///" + str((Path.cwd() / storage[len("sqlite:///"):]).resolve())
    return storage


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("space", help="conf/hparams_search/<name>.yaml, or a path to one")
    ap.add_argument("--trials", type=int, help="trials to run now (default: the space's n_trials)")
    ap.add_argument("--storage", help="optuna storage URL (default: the space's)")
    ap.add_argument("--out", default="multirun/optuna", help="where trial job directories go")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides every trial gets, e.g. data.max_rows=500")
    args = ap.parse_intermixed_args(argv)
    interrupt_on_sigterm()
    try:
        space = load_space(args.space)
        if args.storage:
            space["storage"] = args.storage
        search(space, args.trials or int(space["n_trials"]), args.overrides, Path(args.out).resolve())
    except PipelineError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
