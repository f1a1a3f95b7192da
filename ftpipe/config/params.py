"""Read `params.yaml` (the Hydra composition of `conf/`) and resolve resource paths."""
from __future__ import annotations

import importlib.util
import os
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ftpipe.config.schema import validate
from ftpipe.infra.errors import PipelineError

PKG_SCHEME = "pkg://"
PKG_SPEC = re.compile(r"^pkg://([A-Za-z0-9_.]+)@([^/]+)/(.+)$")


def params_path() -> Path:
    return Path(os.environ.get("FTPIPE_PARAMS", "params.yaml"))


def load_params(path: str | Path | None = None) -> DictConfig:
    """Load the composed parameters and check them whole against config.schema; stages never read `conf/`."""
    path = Path(path) if path else params_path()
    if not path.is_file():
        raise PipelineError(f"{path}: params file not found (compose it with `make params`)")
    try:
        cfg = OmegaConf.load(path)
        raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PipelineError(f"{path}: not valid YAML: {where}{what}; recompose it with `make params`") from None
    except OmegaConfBaseException as exc:
        raise PipelineError(f"{path}: {str(exc).splitlines()[0]}; recompose it with `make params`") from None
    if raw is None:
        raise PipelineError(f"{path}: expected a mapping of sections (data, model, ...) at the top level")
    validate(raw)
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
    """A plain path, or `pkg://<package>@<version>/<relative path>` for a file inside an installed package.

    The version is part of the spec, so it is a param DVC tracks: installing another version of the package is
    refused here until the spec names it, and then the stages that read it rerun.
    """
    spec = str(spec)
    if not spec.startswith(PKG_SCHEME):
        return Path(spec).expanduser()
    found = PKG_SPEC.match(spec)
    if found is None:
        package = spec[len(PKG_SCHEME):].split("/")[0].split("@")[0]
        installed = _installed_version(package)
        named = f"{package} {installed} is installed" if installed else f"{package} is not installed"
        raise PipelineError(f"{field}: {spec!r} is not pkg://<package>@<version>/<file>; name the installed "
                            f"version ({named}) so that another version reruns what reads it")
    package, wanted, relative = found.groups()
    location = importlib.util.find_spec(package)
    if location is None or not location.submodule_search_locations:
        raise PipelineError(f"{field}: package '{package}' is not installed (needed for {spec}); run `make setup`")
    installed = _installed_version(package) or "unknown"
    if installed != wanted:
        raise PipelineError(f"{field}: {spec} names {package} {wanted}, but {installed} is installed; install "
                            f"{package}=={wanted} (`make setup`) or put {installed} in the spec")
    return Path(list(location.submodule_search_locations)[0]) / relative


def _installed_version(package: str) -> str | None:
    try:
        return version(package)
    except (PackageNotFoundError, ValueError):
        return None
