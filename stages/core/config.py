"""Read `params.yaml` (the Hydra composition of `conf/`) and resolve resource paths."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from .errors import PipelineError

PKG_SCHEME = "pkg://"


def params_path() -> Path:
    return Path(os.environ.get("FTPIPE_PARAMS", "params.yaml"))


def load_params(path: str | Path | None = None) -> DictConfig:
    """Load the composed parameters; stages never read `conf/` directly."""
    path = Path(path) if path else params_path()
    if not path.is_file():
        raise PipelineError(f"{path}: params file not found (compose it with `make params`)")
    cfg = OmegaConf.load(path)
    if not isinstance(cfg, DictConfig):
        raise PipelineError(f"{path}: expected a mapping at the top level")
    return cfg


def flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """`{'train': {'lr': 1e-4}}` -> `{'train.lr': 1e-4}`; lists become their string form."""
    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    out: dict[str, Any] = {}
    for key, value in (cfg or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def resolve_resource(spec: str | Path, field: str = "path") -> Path:
    """A plain path, or `pkg://<package>/<relative path>` for files shipped inside an installed package."""
    spec = str(spec)
    if not spec.startswith(PKG_SCHEME):
        return Path(spec)
    package, _, relative = spec[len(PKG_SCHEME):].partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise PipelineError(f"{field}: package '{package}' is not installed (needed for {spec}); run `make setup`")
    return Path(list(found.submodule_search_locations)[0]) / relative
