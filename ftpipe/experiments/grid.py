"""A sweep's jobs: Hydra's own multirun syntax (`a=1,2 b=range(3)`) expanded to one override list per job.

A spec file in `conf/sweep/<name>.yaml` names the axes, the overrides every job shares, and the metric
that picks the winner; overrides on the command line add axes or replace the spec's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ftpipe.config.compose import CONF_DIR, compose_config
from ftpipe.infra.errors import PipelineError
from ftpipe.tracking import keys

SPEC_DIR = CONF_DIR / "sweep"
SPEC_KEYS = {"params", "fixed", "metric", "mode", "target"}
STAGES = ("clean", "augment", "tokenize", "train", "evaluate", "compress")


@dataclass
class SweepSpec:
    params: dict[str, str] = field(default_factory=dict)  # key -> Hydra sweep value, e.g. "1e-5,3e-5"
    fixed: list[str] = field(default_factory=list)        # overrides every job gets
    metric: str = keys.RANK                                # validation, so the test split stays unseen
    mode: str = "max"
    target: str = "evaluate"                             # compress measures latency: not needed to rank


def load_spec(name_or_path: str | None) -> SweepSpec:
    """`lr` -> conf/sweep/lr.yaml; a path to a .yaml file is read as it is; None is an empty spec."""
    if not name_or_path:
        return SweepSpec()
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SPEC_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))) or "none"
        raise PipelineError(f"{path}: no such sweep spec (known in {SPEC_DIR.name}/: {known})")
    try:
        raw = OmegaConf.load(path)
    except (OmegaConfBaseException, ValueError) as exc:
        raise PipelineError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, DictConfig):
        raise PipelineError(f"{path}: expected a mapping with keys {sorted(SPEC_KEYS)}")
    unknown = set(raw) - SPEC_KEYS
    if unknown:
        raise PipelineError(f"{path}: unknown key(s) {sorted(unknown)}; expected {sorted(SPEC_KEYS)}")
    spec = SweepSpec(**{k: v for k, v in OmegaConf.to_container(raw).items() if v is not None})
    if not isinstance(spec.params, dict) or not isinstance(spec.fixed, list):
        raise PipelineError(f"{path}: 'params' must be a mapping (key: values) and 'fixed' a list of key=value")
    spec.params = {str(k): _as_sweep_value(v) for k, v in spec.params.items()}
    return check_spec(spec, str(path))


def _as_sweep_value(value: Any) -> str:
    """YAML lists become Hydra's comma form; strings such as `range(1,4)` pass through."""
    if isinstance(value, (list, ListConfig)):
        return ",".join(str(v) for v in value)
    return str(value)


def check_spec(spec: SweepSpec, where: str = "sweep") -> SweepSpec:
    if spec.mode not in ("max", "min"):
        raise PipelineError(f"{where}: mode must be 'max' or 'min', not {spec.mode!r}")
    if spec.target not in STAGES:
        raise PipelineError(f"{where}: target must be one of {', '.join(STAGES)}, not {spec.target!r}")
    return spec


def with_cli(spec: SweepSpec, overrides: list[str]) -> SweepSpec:
    """Command-line `key=values` replace the spec's axis (or fixed override) of the same key."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PipelineError(f"command line: {item!r} is not key=value")
        spec.fixed = [f for f in spec.fixed if f.partition("=")[0] != key]
        spec.params[key] = value
    return spec


def expand(spec: SweepSpec) -> list[list[str]]:
    """The grid: one list of plain `key=value` overrides per job, last axis varying fastest."""
    items = [*spec.fixed, *(f"{k}={v}" for k, v in spec.params.items())]
    try:
        parsed = OverridesParser.create().parse_overrides(items)
        jobs = BasicSweeper.split_arguments(parsed, max_batch_size=None)[0]
    except HydraException as exc:
        raise PipelineError(f"sweep overrides: {str(exc).splitlines()[0]} "
                            "(a grid takes a,b,c lists, range() and choice())") from None
    if not jobs or jobs == [[]]:
        raise PipelineError("sweep: no axes given; name a spec (conf/sweep/) or pass e.g. train.lr=1e-5,3e-5")
    return jobs


def axes(spec: SweepSpec) -> list[str]:
    """Keys that take more than one value across the grid."""
    jobs = expand(spec)
    seen: dict[str, set[str]] = {}
    for job in jobs:
        for item in job:
            key, _, value = item.partition("=")
            seen.setdefault(key, set()).add(value)
    return [k for k, values in seen.items() if len(values) > 1]


def check_jobs(jobs: list[list[str]]) -> None:
    """Compose every job before anything trains, so a typo fails in seconds, not after job 5."""
    for number, job in enumerate(jobs, 1):
        try:
            compose_config(job)
        except (HydraException, OmegaConfBaseException) as exc:
            first = str(exc).splitlines()[0]
            if first.startswith("Could not override"):
                first += " (no such key in conf/; see params.yaml for the keys)"
            raise PipelineError(f"sweep job {number} ({' '.join(job)}): {first}") from None
