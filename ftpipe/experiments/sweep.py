"""The sweep front door: Hydra multirun over the whole pipeline, for grids and Optuna searches alike.

    ftpipe-sweep -m train.lr=1e-5,3e-5 seed=1,2,3          # a grid: Hydra's basic sweeper (a,b | range() | groups)
    ftpipe-sweep -m hparams_search=rt_optuna               # Optuna with pruning (conf/hparams_search/, hydra/sweeper)
    ftpipe-sweep -m ... hydra/launcher=joblib              # launchers: basic (default), joblib, submitit_*, ray
    python -m ftpipe.experiments.sweep -m ...              # the same command

Every job is a DVC experiment (`dvc exp show`) and an MLflow run nested under the sweep's parent; the report ranks
them on validation. Run the same command again after an interruption and the sweep resumes (docs/sweeps.md).
"""
from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from ftpipe import ROOT
from ftpipe.experiments import job
from ftpipe.experiments.settings import SweepSettings, derived_name, job_overrides, pipeline_cfg
from ftpipe.infra.errors import PipelineError, interrupt_on_sigterm, received
from ftpipe.infra.logs import get_logger
from ftpipe.tracking.runs import PARENT_ENV, configure, tracking_uri

PLUGINS = ROOT / "ftpipe" / "config"   # holds hydra_plugins/ftpipe_optuna_sweeper.py (as .dvc/config tells DVC)
log = get_logger("sweep")
# conf/hydra/launcher/ray.yaml shares its name with hydra-ray-launcher's schema, which Hydra then applies to it
# (as wanted) with a deprecation warning on every composition
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/ray' is validated against ConfigStore schema",
                        category=UserWarning)


class SweepCallback(Callback):
    """Opens (or, resuming, reopens) the sweep's MLflow parent run, and writes the report when the last job ends."""

    running: SweepCallback | None = None   # the sweep of this process whose parent run is open, for cli()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from mlflow.tracking import MlflowClient

        from ftpipe.experiments.parent import open_parent

        self.settings = SweepSettings.from_cfg(config)
        cfg = pipeline_cfg(config)
        # the URI, not a client: launchers such as Ray pickle the callbacks to their workers
        self.uri = tracking_uri(cfg)
        kind = "optuna" if "optuna" in str(config.hydra.sweeper.get("_target_", "")) else "grid"
        client, experiment_id = MlflowClient(self.uri), configure(cfg)
        self.parent_id = open_parent(client, experiment_id, self.settings, list(_swept(config)), kind)
        self.started = time.monotonic()
        SweepCallback.running = self
        # jobs read these from the environment: in-process with the basic launcher, inherited by launcher workers
        env = {PARENT_ENV: self.parent_id, "MLFLOW_TRACKING_URI": self.uri,
               "MLFLOW_EXPERIMENT_NAME": client.get_experiment(experiment_id).name}
        os.environ.update(env)
        if "ray" in config.hydra.launcher:
            _configure_ray(config, env)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from mlflow.tracking import MlflowClient

        from ftpipe.experiments.report import finish
        from ftpipe.experiments.store import children

        if SweepCallback.running is not self:
            return
        SweepCallback.running = None
        os.environ.pop(PARENT_ENV, None)
        client = MlflowClient(self.uri)
        kids = children(client, client.get_run(self.parent_id))
        ok = sum(k.info.status == "FINISHED" for k in kids)
        client.set_tag(self.parent_id, "sweep.jobs", str(len({k.info.run_name for k in kids})))
        client.set_terminated(self.parent_id, "FINISHED" if ok else "FAILED")
        report = finish(client, self.parent_id, self.settings)
        minutes = (time.monotonic() - self.started) / 60
        log.info("sweep %s done in %.1f min; best run %s; report in reports/sweeps/%s/", self.settings.name, minutes,
                 report.best.get("run", "-"), self.settings.name)

    def abort(self, exc: BaseException) -> None:
        """The sweep stopped before its end: parent KILLED/FAILED, running job runs KILLED, a partial report."""
        from mlflow.tracking import MlflowClient

        from ftpipe.experiments.interrupts import abort_parent

        SweepCallback.running = None
        os.environ.pop(PARENT_ENV, None)
        abort_parent(MlflowClient(self.uri), self.parent_id, exc, self.settings)


def _swept(config: DictConfig) -> dict[str, str]:
    """The keys this sweep varies: command-line sweep overrides and the sweeper's `params`."""
    given = {k: v for k, v in (o.split("=", 1) for o in config.hydra.overrides.task if "=" in o)
             if "," in v or "(" in v}
    return {**{str(k): str(v) for k, v in (config.hydra.sweeper.get("params") or {}).items()}, **given}


def _configure_ray(config: DictConfig, env: dict[str, str]) -> None:
    """Hand the job variables to Ray's workers explicitly (a Ray cluster started earlier would not inherit
    them), and keep Ray from trying to send usage statistics. The launcher is built from `config` after this."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    with read_write(config), open_dict(config):
        OmegaConf.update(config, "hydra.launcher.ray.init.runtime_env.env_vars", env, merge=True)


# an absolute path: a relative one would be resolved as a package when main() is called from an import
@hydra.main(config_path=str(ROOT / "conf"), config_name="sweep", version_base=None)
def main(config: DictConfig) -> job.JobResult:
    hc = HydraConfig.get()
    return job.run(pipeline_cfg(config), SweepSettings.from_cfg(config), hc.job.num,
                   job_overrides(list(hc.overrides.task)), Path(hc.runtime.output_dir) / "dvc.log")


# the launchers that come with an optional extra: the module each needs, and the extra that installs it
LAUNCHER_EXTRAS = {"ray": ("hydra_plugins.hydra_ray_launcher", "ray"),
                   "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "submitit"),
                   "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "submitit")}


def check_launcher(args: list[str]) -> None:
    """A launcher chosen without its optional extra: one line that says which extra to install."""
    import importlib.util

    for arg in args:
        key, _, name = arg.partition("=")
        if key.lstrip("+~") == "hydra/launcher" and name in LAUNCHER_EXTRAS:
            module, extra = LAUNCHER_EXTRAS[name]
            try:
                found = importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:
                found = False
            if not found:
                raise PipelineError(f"hydra/launcher={name}: the {extra} launcher is an optional extra; install it "
                                    f"with pip install -e '.[{extra}]' (or choose hydra/launcher=basic or joblib)")


def with_name(args: list[str]) -> list[str]:
    """The command line with `sweep.name` set: derived from what is swept, so that the same command resumes;
    with sweep.resume=false, a timestamp makes it a new sweep."""
    if any(a.startswith("sweep.name=") for a in args):
        return args
    name = derived_name(args)
    if "sweep.resume=false" in args:
        name += time.strftime("-%m%d-%H%M%S")
    return [*args, f"sweep.name={name}"]


def cli() -> None:
    """`ftpipe-sweep` / `python -m ftpipe.experiments.sweep`: main(), and if the sweep stops early (Ctrl-C, SIGTERM,
    an error) its MLflow runs are ended instead of staying RUNNING."""
    interrupt_on_sigterm()
    sys.path.insert(0, str(PLUGINS))   # our Optuna sweeper: Hydra loads sweepers from a `hydra_plugins` package
    try:
        if not {"-m", "--multirun"} & set(sys.argv[1:]):
            raise PipelineError("ftpipe-sweep runs sweeps: add -m (e.g. ftpipe-sweep -m train.lr=1e-5,3e-5); "
                                "for one run use `dvc repro`")
        check_launcher(sys.argv[1:])
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *with_name(sys.argv[1:])]
    try:
        main()
        if (stop := received()) is not None:  # caught and swallowed on the way: the sweep still stopped early
            raise stop
    except BaseException as exc:
        exc = received() or exc   # an interrupt that library code turned into another error is still one
        if SweepCallback.running is not None:
            SweepCallback.running.abort(exc)
        if isinstance(exc, KeyboardInterrupt):
            print("error: interrupted", file=sys.stderr)
            sys.exit(130)
        raise


if __name__ == "__main__":
    # Hydra imports the callback from `ftpipe.experiments.sweep`: run that module's cli(), not this __main__ copy's,
    # so that both see the same SweepCallback.running (and launchers pickle `main` by reference)
    from ftpipe.experiments.sweep import cli as module_cli

    module_cli()
