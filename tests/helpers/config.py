"""Config sections composed from the project's conf/ (as `make params` composes them), with values replaced."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from ftpipe.config.compose import compose_config


def data_cfg(*overrides: str, **values) -> DictConfig:
    """The `data` section for `overrides` (default: data=custom) with `values` merged in."""
    return OmegaConf.merge(compose_config(list(overrides) or ["data=custom"]).data, values)


def train_cfg(*overrides: str, **values) -> DictConfig:
    """The `train` section for Hydra `overrides` with `values` merged in, unchecked (a test may want a bad value
    to reach the code under test)."""
    return OmegaConf.merge(compose_config(list(overrides)).train, values)
