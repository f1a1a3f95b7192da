"""Hydra multirun over the whole pipeline: `python -m ftpipe.experiments.multirun -m train.lr=1e-5,5e-5 seed=1,2`.

Each Hydra job runs `dvc repro` in its own job directory (a copy of the code with a params.yaml composed from
the job's config), so jobs never touch the workspace's data/, dvc.lock or models. All job directories share the
workspace's DVC cache, and DVC's run cache restores a stage whose command, deps and params were seen before:
jobs that differ only in training params run clean/augment/tokenize once. Every job logs into the workspace's
MLflow store as a child of the multirun's parent run (SweepCallback); the job returns validation macro-F1.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from ftpipe import ROOT
from ftpipe.config.compose import write_params
from ftpipe.experiments.interrupts import run_job_process
from ftpipe.experiments.workspace import CODE
from ftpipe.infra.errors import PipelineError, interrupt_on_sigterm
from ftpipe.infra.logs import get_logger
from ftpipe.tracking.runs import PARENT_ENV, configure, tracking_uri

# what a job needs to run the DAG; data/ outputs, models and dvc.lock are the job's own
JOB_FILES = [*CODE, "dvc.yaml", "data/raw", "data/samples", ".dvcignore"]
TARGET = "evaluate"      # compress measures latency; not needed to rank a sweep
OBJECTIVE = "val_macro_f1"
FIXED_ENV = "FTPIPE_SWEEP_FIXED"  # the overrides every job of the multirun shares (JSON list)
log = get_logger("multirun")
# conf/hydra/launcher/ray.yaml shares its name with hydra-ray-launcher's schema, which Hydra then applies to it
# (as wanted) with a deprecation warning on every composition
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/ray' is validated against ConfigStore schema",
                        category=UserWarning)


class SweepCallback(Callback):
    """One MLflow parent run per multirun; its report (ftpipe.experiments) is written when the last job ends."""

    running: SweepCallback | None = None   # the multirun of this process whose parent run is open, for cli()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from mlflow.tracking import MlflowClient

        from ftpipe.experiments.grid import SweepSpec
        from ftpipe.experiments.runner import open_parent

        cfg = _pipeline_cfg(config)
        experiment_id = configure(cfg)
        overrides = list(config.hydra.overrides.task)
        swept = {k: v for k, v in (o.split("=", 1) for o in overrides if "=" in o) if "," in v or "(" in v}
        self.spec = SweepSpec(params=swept, fixed=[o for o in overrides if o.split("=", 1)[0] not in swept])
        # the URI, not a client: launchers such as Ray pickle the callbacks to their workers
        self.uri = tracking_uri(cfg)
        client = MlflowClient(self.uri)
        name = f"multirun-{Path(config.hydra.sweep.dir).name}"
        self.parent_id = open_parent(client, experiment_id, name, self.spec, 0, list(swept))
        client.set_tag(self.parent_id, "sweep.kind", "hydra-multirun")
        SweepCallback.running = self
        # jobs read these from the environment: in-process with the basic launcher, inherited by launcher workers
        job_env = {PARENT_ENV: self.parent_id, "MLFLOW_TRACKING_URI": self.uri, FIXED_ENV: json.dumps(self.spec.fixed)}
        os.environ.update(job_env)
        if "ray" in config.hydra.launcher:
            _configure_ray(config, job_env)
        log.info("multirun: MLflow parent run %s in %s", self.parent_id, self.uri)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from mlflow.tracking import MlflowClient

        from ftpipe.experiments.report import finish
        from ftpipe.experiments.store import children

        if SweepCallback.running is not self:
            return
        SweepCallback.running = None
        for name in (PARENT_ENV, FIXED_ENV):
            os.environ.pop(name, None)
        client = MlflowClient(self.uri)
        kids = children(client, client.get_run(self.parent_id))
        failed = sum(k.info.status != "FINISHED" for k in kids)
        client.set_tag(self.parent_id, "sweep.jobs", str(len(kids)))
        client.set_tag(self.parent_id, "sweep.failed_jobs", str(failed))
        client.set_terminated(self.parent_id, "FAILED" if failed == len(kids) else "FINISHED")
        report = finish(client, self.parent_id, self.spec)
        log.info("multirun done: %d job(s), %d failed; best %s", len(kids), failed, report.best.get("run", "-"))

    def abort(self, exc: BaseException) -> None:
        """The multirun stopped before its end: parent KILLED/FAILED, running job runs KILLED, partial report."""
        from mlflow.tracking import MlflowClient

        from ftpipe.experiments.interrupts import abort_parent

        SweepCallback.running = None
        for name in (PARENT_ENV, FIXED_ENV):
            os.environ.pop(name, None)
        abort_parent(MlflowClient(self.uri), self.parent_id, exc, self.spec)


def _configure_ray(config: DictConfig, job_env: dict[str, str]) -> None:
    """Hand the job variables to Ray's workers explicitly (a Ray cluster started earlier would not inherit
    them), and keep Ray from trying to send usage statistics. The launcher is built from `config` after this."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    with read_write(config), open_dict(config):
        OmegaConf.update(config, "hydra.launcher.ray.init.runtime_env.env_vars", job_env, merge=True)


def _pipeline_cfg(config: DictConfig) -> DictConfig:
    """The job's pipeline config without Hydra's own node (what params.yaml holds)."""
    cfg = OmegaConf.to_container(config, resolve=False)
    cfg.pop("hydra", None)
    return OmegaConf.create(cfg)


def prepare_job_dir(job_dir: Path, cfg: DictConfig) -> None:
    """A private DVC project: the code, a params.yaml of this job, and the workspace's cache."""
    for name in JOB_FILES:
        src, dst = ROOT / name, job_dir / name
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    write_params(cfg, job_dir / "params.yaml")
    if not (job_dir / ".dvc").is_dir():
        _dvc(job_dir, "init", "--no-scm", "-q")
        _dvc(job_dir, "config", "core.analytics", "false")
        _dvc(job_dir, "config", "cache.dir", str(ROOT / ".dvc" / "cache"))


def _dvc(cwd: Path, *args: str) -> None:
    subprocess.run(["dvc", *args], cwd=cwd, check=True, capture_output=True, text=True)


def run_pipeline(job_dir: Path, cfg: DictConfig, name: str) -> float:
    """`dvc repro` in the job directory; validation macro-F1, or NaN when the job failed (recorded FAILED)."""
    env = {**os.environ, "FTPIPE_RUN_NAME": name, "PYTHONPATH": str(job_dir)}
    env.setdefault("MLFLOW_TRACKING_URI", tracking_uri(cfg))
    with open(job_dir / "repro.log", "w") as out:
        code = run_job_process(["dvc", "repro", TARGET], cwd=job_dir, env=env, stdout=out, stderr=subprocess.STDOUT)
    metrics = job_dir / "metrics" / "train.json"
    if code == 0 and metrics.is_file():
        log_restored_evaluation(job_dir, env["MLFLOW_TRACKING_URI"])
        return float(json.loads(metrics.read_text()).get(OBJECTIVE, math.nan))
    error = f"dvc repro exited {code}: " + _last_error(job_dir / "repro.log")
    log.error("job %s failed: %s (log: %s)", name, error, job_dir / "repro.log")
    _record_failure(job_dir, cfg, name, error)
    return math.nan


def log_restored_evaluation(job_dir: Path, uri: str) -> None:
    """DVC's run cache restores `evaluate` without running it when `train` wrote bytes it has seen before (a
    deterministic rerun), so the test metrics never reached this job's run: log them from metrics/metrics.json."""
    from mlflow.tracking import MlflowClient

    from ftpipe.tracking import keys

    run_file, report_file = job_dir / "models" / "mlflow_run.json", job_dir / "metrics" / "metrics.json"
    if not (run_file.is_file() and report_file.is_file()):
        return
    client, run_id = MlflowClient(uri), json.loads(run_file.read_text())["run_id"]
    if "test/accuracy" in client.get_run(run_id).data.metrics:
        return  # evaluate ran and logged
    for key, value in keys.test(json.loads(report_file.read_text())).items():  # as evaluate logs them
        client.log_metric(run_id, key, float(value))
    client.set_tag(run_id, "sweep.evaluate", "restored from DVC's run cache; metrics logged from metrics/metrics.json")


def _last_error(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    # the stages' own one-line errors ("error: ...") say why; DVC's "ERROR: failed to reproduce" only says where
    ours = [ln for ln in lines if ln.startswith("error:")]
    dvc = [ln for ln in lines if "error" in ln.lower()]
    return (ours or dvc or lines or ["no output"])[-1][:500]


def _record_failure(job_dir: Path, cfg: DictConfig, name: str, error: str) -> None:
    """Tag the job's run FAILED with its error; when the job died before training, open one to say so."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(os.environ.get("MLFLOW_TRACKING_URI") or tracking_uri(cfg))
    run_file = job_dir / "models" / "mlflow_run.json"
    run_id = json.loads(run_file.read_text()).get("run_id") if run_file.is_file() else None
    if run_id is None:
        experiment_id = configure(cfg)
        tags = {"sweep.job_dir": str(job_dir)}
        if os.environ.get(PARENT_ENV):
            tags["mlflow.parentRunId"] = os.environ[PARENT_ENV]
        run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        for key, value in _flat(OmegaConf.to_container(cfg.train)).items():
            client.log_param(run_id, f"train.{key}", value)
        client.log_param(run_id, "seed", cfg.seed)
    client.set_tag(run_id, "sweep.error", error)
    client.set_terminated(run_id, "FAILED")


def job_name(number: int, overrides: list[str]) -> str:
    """`job-<n>-<what varies>`: the job's overrides less those every job shares (FIXED_ENV), so the MLflow runs
    table reads `job-3-seed=2,train.lr=0.0001`, not the data path each job repeats."""
    fixed = set(json.loads(os.environ.get(FIXED_ENV, "[]")))
    varying = [o for o in overrides if o not in fixed] or overrides
    return f"job-{number}-" + ",".join(varying)[:200]


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


# an absolute path: a relative one would be resolved as a package when main() is called from an import
@hydra.main(config_path=str(ROOT / "conf"), config_name="multirun", version_base=None)
def main(config: DictConfig) -> float:
    hc = HydraConfig.get()
    job_dir = Path(hc.runtime.output_dir).resolve()
    cfg = _pipeline_cfg(config)
    name = job_name(hc.job.num, list(hc.overrides.task)) if hc.mode.name == "MULTIRUN" else "job"
    prepare_job_dir(job_dir, cfg)
    return run_pipeline(job_dir, cfg, name)


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


def cli() -> None:
    """`python -m ftpipe.experiments.multirun` / `ftpipe-multirun`: main(), and if the multirun stops early (Ctrl-C,
    SIGTERM, an error) its MLflow runs are ended instead of staying RUNNING."""
    interrupt_on_sigterm()
    try:
        check_launcher(sys.argv[1:])
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    try:
        main()
    except BaseException as exc:
        if SweepCallback.running is not None:
            SweepCallback.running.abort(exc)
        if isinstance(exc, KeyboardInterrupt):
            print("error: interrupted", file=sys.stderr)
            sys.exit(130)
        raise


if __name__ == "__main__":
    # Hydra imports the callback from `ftpipe.experiments.multirun`: run that module's cli(), not this __main__ copy's,
    # so that both see the same SweepCallback.running (and launchers pickle `main` by reference)
    from ftpipe.experiments.multirun import cli as module_cli

    module_cli()
