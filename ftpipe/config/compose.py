"""Compose `conf/` with Hydra into `params.yaml`, as `dvc exp run` does (plain `dvc repro` does not).

    python -m ftpipe.config.compose [override ...]     e.g. train=full train.lr=3e-5
"""
from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from ftpipe import ROOT
from ftpipe.config.hydra_plugins import ftpipe_resolvers  # noqa: F401  (registers ${ftpipe.dvc_dep:...})
from ftpipe.config.params import flatten
from ftpipe.infra.errors import PipelineError
from ftpipe.infra.io import write_text

CONF_DIR = ROOT / "conf"


def compose_config(overrides: list[str] | None = None, conf_dir: Path = CONF_DIR) -> DictConfig:
    with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base=None):
        return compose(config_name="config", overrides=list(overrides or []))


def write_params(cfg: DictConfig, path: str | Path = "params.yaml") -> None:
    header = "# Composed from conf/ by `make params` (python -m ftpipe.config.compose); edit conf/, not this file.\n"
    write_text(path, header + OmegaConf.to_yaml(cfg, resolve=True))


def composition_error(exc: Exception, overrides: list[str]) -> PipelineError:
    """Hydra's multi-line composition error as one line: which override, what is wrong, what to do."""
    from hydra.errors import MissingConfigException, OverrideParseException

    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if isinstance(exc, MissingConfigException):
        group = re.search(r"Could not find '([^/']+)/([^']+)'", first)
        options = [line.strip() for line in text.splitlines() if line.startswith("\t") and "=" not in line]
        if group:
            return PipelineError(f"{group.group(1)}={group.group(2)}: no such option in conf/{group.group(1)}/ "
                                 f"(options: {', '.join(options) or 'none'})")
    if isinstance(exc, OverrideParseException):
        bad = next((o for o in overrides if "=" not in o), None)
        if bad is not None:
            return PipelineError(f"override {bad!r} is not key=value; a value with spaces must be quoted as one "
                                 f"argument, e.g. 'data.path=\"/my data/reviews.csv\"'")
        return PipelineError(f"overrides {' '.join(overrides)!r}: not Hydra override syntax ({first}); quote values "
                             f"that hold spaces, brackets or commas")
    missing = re.search(r"Could not override '([^']+)'", first)
    if missing:
        key = missing.group(1)
        known = flatten(compose_config())
        close = difflib.get_close_matches(key, list(known), n=1)
        hint = f"did you mean {close[0]}?" if close else "see params.yaml for the keys"
        return PipelineError(f"{key}: no such key in conf/; {hint}")
    return PipelineError(f"overrides {' '.join(overrides)!r}: {first}")


def main() -> None:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    overrides = sys.argv[1:]
    try:
        cfg = compose_config(overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        print(f"error: {composition_error(exc, overrides)}", file=sys.stderr)
        sys.exit(2)
    write_params(cfg)


if __name__ == "__main__":
    main()
