"""An Optuna study as a Hydra sweeper: ask a batch of trials, launch them as sweep jobs, tell their outcomes.

The study lives in sqlite beside the sweep (multirun/<sweep>/optuna.db), so the same command continues it: trials
that were running when the sweep was killed are marked failed and asked again with the same parameters. Each job's
train stage reports its epochs to the trial (ftpipe.tracking.trial), and the pruner stops weak ones early.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from ftpipe.experiments.job import STUDY_ENV
from ftpipe.experiments.settings import SweepSettings
from ftpipe.infra.errors import PipelineError
from ftpipe.infra.logs import get_logger
from ftpipe.tracking.trial import build_pruner, epoch_column

INTERRUPTED = "interrupted"   # user attr of a trial a killed sweep left running; it is retried, not counted
log = get_logger("optuna")


def build_sampler(spec: Mapping[str, Any]):
    import optuna

    name, seed = spec.get("name", "tpe"), spec.get("seed")
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    raise PipelineError(f"hydra.sweeper.sampler.name: {name!r} is not a sampler; use tpe, random or cmaes")


def parse_space(items: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Hydra override strings -> (fixed overrides, Optuna distributions). `choice(a,b)` and `a,b` are categorical,
    `range(a,b[,step])` integers (Python's bounds), `interval(a,b)` floats; tag(log, ...) makes one log-scaled."""
    import optuna.distributions as d
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(items)
    except HydraException as exc:
        raise PipelineError(f"search space: {str(exc).splitlines()[0]}") from None
    fixed, space = [], {}
    for o in parsed:
        key = o.get_key_element()
        if not o.is_sweep_override():
            fixed.append(o.input_line)
            continue
        sweep, log_scale = o.value(), "log" in getattr(o.value(), "tags", set())
        if isinstance(sweep, IntervalSweep):
            low, high = float(sweep.start), float(sweep.end)
            if "int" in sweep.tags:
                space[key] = d.IntDistribution(int(low), int(high), log=log_scale)
            else:
                space[key] = d.FloatDistribution(low, high, log=log_scale)
        elif isinstance(sweep, RangeSweep) and all(isinstance(v, int) for v in (sweep.start, sweep.stop, sweep.step)):
            values = list(o.sweep_iterator())
            space[key] = d.IntDistribution(values[0], values[-1], step=sweep.step)
        elif isinstance(sweep, (ChoiceSweep, RangeSweep)):
            values = list(o.sweep_iterator())
            if not all(isinstance(v, (str, int, float, bool)) for v in values):
                raise PipelineError(f"search space: {key}: choices must be plain values, not {values!r}")
            space[key] = d.CategoricalDistribution(values)
        else:
            raise PipelineError(f"search space: {key}: {type(sweep).__name__} is not searchable; "
                                "use choice(), range() or interval()")
    return fixed, space


def _as_items(params: Mapping[str, Any]) -> list[str]:
    return [f"{k}=choice({','.join(map(str, v))})" if isinstance(v, (list, tuple)) else f"{k}={v}"
            for k, v in params.items()]


def retry_interrupted(study) -> int:
    """Trials left RUNNING by a killed sweep: marked failed (and `interrupted`), and queued again as they were."""
    import optuna

    stale = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for t in stale:
        optuna.trial.Trial(study, t._trial_id).set_user_attr(INTERRUPTED, True)
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(t.params, skip_if_exists=False)
        log.info("trial %d was running when the sweep stopped: marked failed, queued again with %s", t.number,
                 t.params)
    return len(stale)


def ended(study) -> int:
    """Trials that count towards n_trials: complete, pruned, or failed on their own (not interrupted)."""
    from optuna.trial import TrialState

    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL and not t.user_attrs.get(INTERRUPTED)) for t in study.trials)


def run_study(opts: Mapping[str, Any], config: DictConfig, launcher: Any, arguments: list[str]) -> Any:
    import optuna

    opts = {k: OmegaConf.to_container(v, resolve=True) if isinstance(v, (DictConfig, ListConfig)) else v
            for k, v in opts.items()}   # Hydra hands nested settings over as DictConfig
    sweep = SweepSettings.from_cfg(config)
    fixed, space = parse_space([*_as_items(opts.get("params") or {}), *arguments])
    if not space:
        raise PipelineError("hydra/sweeper=optuna: no search space; set hydra.sweeper.params (conf/hparams_search/) "
                            "or give e.g. train.lr='tag(log,interval(1e-5,1e-3))'")
    pruner = opts.get("pruner") or {"name": "none"}
    # each epoch is reported whenever the metric has a per-epoch figure; pruning cannot do without one
    column = epoch_column(sweep.metric) if pruner.get("name") != "none" or sweep.metric.startswith("val/best_") \
        else None
    folder = Path(config.hydra.sweep.dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    storage = opts.get("storage") or f"sqlite:///{folder / 'optuna.db'}"
    name = opts.get("study_name") or sweep.name
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=storage, sampler=build_sampler(opts.get("sampler") or {}),
                                pruner=build_pruner(pruner), load_if_exists=True,
                                direction="maximize" if sweep.mode == "max" else "minimize")
    if not study.trials:   # a new study: the trials asked for first, e.g. the default recipe as a yardstick
        for params in opts.get("enqueue") or []:
            study.enqueue_trial(dict(params))
    retry_interrupted(study)
    os.environ[STUDY_ENV] = json.dumps({"storage": storage, "study": name, "column": column, "pruner": pruner})
    n_trials, n_jobs = int(opts.get("n_trials", 20)), max(1, int(opts.get("n_jobs", 1)))
    log.info("study %s in %s: %d of %d trial(s) ended; searching %s", name, storage, ended(study), n_trials,
             ", ".join(space))
    while (left := n_trials - ended(study)) > 0:
        trials = [study.ask(space) for _ in range(min(n_jobs, left))]
        batch = [[*fixed, *(f"{k}={v}" for k, v in t.params.items()), f"sweep.trial_id={t._trial_id}"]
                 for t in trials]
        for trial, result in zip(trials, launcher.launch(batch, initial_job_idx=trials[0].number)):
            tell(study, trial, result)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if done:
        log.info("study %s: best %s = %.4f with %s", name, sweep.metric, study.best_value, study.best_params)
    return study


def tell(study, trial, result: Any) -> None:
    """A job's outcome into the study: its metric, PRUNED, or FAIL (a job that raised counts as failed)."""
    from hydra.core.utils import JobStatus
    from optuna.trial import TrialState

    outcome = result._return_value if result.status == JobStatus.COMPLETED else None
    state, value = getattr(outcome, "state", "FAILED"), getattr(outcome, "value", math.nan)
    if state == "COMPLETE" and math.isfinite(value):
        study.tell(trial, value)
    elif state == "PRUNED":
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, state=TrialState.FAIL)
    log.info("trial %d: %s%s", trial.number, state.lower(), f" ({value:.4f})" if math.isfinite(value) else "")
