"""A sweep's own settings (the `sweep` node of conf/sweep.yaml), checked in one place, and its resumable name."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from ftpipe.infra.errors import PipelineError

STAGES = ("clean", "augment", "tokenize", "train", "evaluate", "compress")
# command-line items that say how to run a sweep, not what it is: changing them keeps the sweep's name, so it resumes
HOW_TO_RUN = ("hydra/launcher=", "hydra.launcher.", "sweep.resume=", "hydra.verbose", "hydra.job_logging",
              "hydra/job_logging=", "hydra/hydra_logging=")


@dataclass(frozen=True)
class SweepSettings:
    name: str
    resume: bool
    metric: str                # ranks the jobs (validation), and is what Optuna optimises
    mode: str                  # max | min
    target: str                # last DVC stage of each job
    trial_id: int | None       # the Optuna trial of this job, if any

    @classmethod
    def from_cfg(cls, cfg: DictConfig) -> SweepSettings:
        s = cfg.sweep
        if s.mode not in ("max", "min"):
            raise PipelineError(f"sweep.mode: {s.mode!r}; use max or min")
        if s.target not in STAGES:
            raise PipelineError(f"sweep.target: {s.target!r}; use one of {', '.join(STAGES)}")
        if not str(s.metric).strip():
            raise PipelineError("sweep.metric: empty; name an MLflow metric such as val/best_macro_f1")
        if not s.name or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(s.name)):
            raise PipelineError(f"sweep.name: {s.name!r}; use letters, digits, '.', '_' and '-' (it names git refs)")
        return cls(str(s.name), bool(s.resume), str(s.metric), str(s.mode), str(s.target),
                   None if s.trial_id is None else int(s.trial_id))


def pipeline_cfg(config: DictConfig) -> DictConfig:
    """A job's pipeline config: what params.yaml holds, without Hydra's node and the sweep's."""
    cfg = OmegaConf.to_container(config, resolve=False)
    cfg.pop("hydra", None)
    cfg.pop("sweep", None)
    return OmegaConf.create(cfg)


def derived_name(args: list[str]) -> str:
    """`<preset or 'sweep'>-<8 hex>` from what the command sweeps, so the same command finds its sweep again;
    the launcher and other how-to-run items are left out of the hash."""
    items = sorted(a for a in args if "=" in a and not a.startswith(HOW_TO_RUN))
    preset = next((a.split("=", 1)[1] for a in items if a.startswith("hparams_search=")), "sweep")
    digest = hashlib.sha256("\n".join(items).encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', preset)}-{digest}"


def job_overrides(overrides: list[str]) -> list[str]:
    """A job's overrides of the pipeline config (what `dvc exp run -S` gets): the sweep's own settings left out."""
    return [o for o in overrides if not o.lstrip("+~").startswith("sweep.")]
