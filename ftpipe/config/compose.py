"""Compose `conf/` with Hydra into `params.yaml`, as `dvc exp run` does (plain `dvc repro` does not).

    python -m ftpipe.config.compose [override ...]     e.g. train=full train.lr=3e-5
"""
from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from ftpipe import ROOT
from ftpipe.config.hydra_plugins import ftpipe_resolvers  # noqa: F401  (registers ${ftpipe.dvc_dep:...})
from ftpipe.infra.io import write_text

CONF_DIR = ROOT / "conf"


def compose_config(overrides: list[str] | None = None, conf_dir: Path = CONF_DIR) -> DictConfig:
    with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base=None):
        return compose(config_name="config", overrides=list(overrides or []))


def write_params(cfg: DictConfig, path: str | Path = "params.yaml") -> None:
    header = "# Composed from conf/ by `make params` (python -m ftpipe.config.compose); edit conf/, not this file.\n"
    write_text(path, header + OmegaConf.to_yaml(cfg, resolve=True))


def main() -> None:
    write_params(compose_config(sys.argv[1:]))


if __name__ == "__main__":
    main()
