"""The augment stage on real WordNet 3.0, real Apertium and real nlpaug (run `make nlp-resources` first): in-process
and as the command DVC runs; leaks, duplicates, balancing, one-line errors."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from ftpipe import ROOT
from ftpipe.augment.backtranslation import ApertiumBackend
from ftpipe.augment.quality import normalise_key, word_edit_distance
from ftpipe.config.compose import compose_config, write_params
from ftpipe.infra.errors import PipelineError
from stages import augment
from tests.helpers.data import TEST_REVIEWS, TRAIN_REVIEWS, VALIDATION_REVIEWS, write_clean
from tests.helpers.project import run_stage

SYNONYM = {"copies": 2, "aug_p": 0.3, "aug_min": 1, "aug_max": 10, "stopwords": ["story"]}
BACKTRANSLATION = {"pivots": ["es", "ca"], "backend": "apertium", "batch_size": 5}


def write_augment_params(root: Path, augment_cfg: dict, seed: int) -> None:
    """A whole params.yaml (every stage checks it whole) whose augment section is `augment_cfg`."""
    cfg = compose_config([f"seed={seed}"])
    OmegaConf.set_struct(cfg, False)
    cfg.augment = augment_cfg
    write_params(cfg, root / "params.yaml")


def run_in_process(root: Path, monkeypatch, augment_cfg: dict, seed: int = 7) -> pd.DataFrame:
    write_augment_params(root, augment_cfg, seed)
    monkeypatch.chdir(root)
    monkeypatch.setenv("FTPIPE_PARAMS", str(root / "params.yaml"))
    augment.main()
    return pd.read_parquet(root / "data" / "augmented" / "train.parquet")


def test_none_is_a_pass_through(tmp_path, monkeypatch):
    write_clean(tmp_path)
    out = run_in_process(tmp_path, monkeypatch, {"augmenters": []})
    train = pd.read_parquet(tmp_path / "data" / "clean" / "train.parquet")
    pd.testing.assert_frame_equal(out.drop(columns="origin"), train)
    assert set(out["origin"]) == {"original"}
    metrics = json.loads((tmp_path / "metrics" / "augment.json").read_text())
    assert metrics["rows_added"] == 0 and metrics["rows_total"] == len(TRAIN_REVIEWS)


def run_as_process(root: Path, augment_cfg: dict, **env: str) -> subprocess.CompletedProcess:
    """`python -m stages.augment` in `root`, as DVC runs it (never verbose: the one-line errors are checked)."""
    write_clean(root)
    write_augment_params(root, augment_cfg, 1)
    return run_stage("augment", root, check=False, PYTHONPATH=str(ROOT), FTPIPE_PARAMS=str(root / "params.yaml"),
                     FTPIPE_VERBOSE="", **env)


def test_unknown_augmenter_is_a_one_line_error(tmp_path):
    done = run_as_process(tmp_path, {"augmenters": ["synonym", "mixup"]})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: augment.augmenters[1]: unknown augmenter 'mixup' (known: synonym, backtranslation)"]
    assert not (tmp_path / "data" / "augmented").exists()


def test_missing_wordnet_names_the_setup_command(tmp_path):
    done = run_as_process(tmp_path, {"augmenters": ["synonym"]}, NLTK_DATA=str(tmp_path / "empty"))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1
    assert lines[0].startswith("error: WordNet 3.0 not found") and "run `make nlp-resources`" in lines[0]
    assert not (tmp_path / "data" / "augmented").exists()


def test_english_only_augmenters_refuse_other_scripts(tmp_path, monkeypatch):
    russian = [("Фильм очень хороший и добрый.", 1), ("Скучный и длинный фильм.", 0)]
    write_clean(tmp_path, train=russian)
    with pytest.raises(PipelineError, match="does not look English.*require_english=false"):
        run_in_process(tmp_path, monkeypatch, {"augmenters": ["synonym"]})


def test_stage_drops_leaks_and_duplicates_and_is_deterministic(tmp_path, monkeypatch):
    # Plant a leak: the validation split holds exactly what back-translation makes of a train text.
    bt = ApertiumBackend("en", "es")
    planted = bt.translate(bt.translate([TRAIN_REVIEWS[0][0]]), forward=False)[0]
    assert normalise_key(planted) != normalise_key(TRAIN_REVIEWS[0][0])
    write_clean(tmp_path, validation=VALIDATION_REVIEWS + [(planted, 1)])
    cfg = {"augmenters": ["synonym", "backtranslation"], "synonym": SYNONYM, "backtranslation": BACKTRANSLATION}
    first = run_in_process(tmp_path, monkeypatch, cfg)
    metrics = json.loads((tmp_path / "metrics" / "augment.json").read_text())
    samples = json.loads((tmp_path / "reports" / "augment_samples.json").read_text())
    second = run_in_process(tmp_path, monkeypatch, cfg)
    pd.testing.assert_frame_equal(first, second)

    originals = first[first["origin"] == "original"]
    added = first[first["origin"] != "original"]
    assert list(first["origin"][:len(TRAIN_REVIEWS)]) == ["original"] * len(TRAIN_REVIEWS)  # originals first
    assert set(added["origin"]) == {"synonym", "backtranslation"}
    held_out = {normalise_key(t) for t, _ in VALIDATION_REVIEWS + TEST_REVIEWS + [(planted, 1)]}
    keys = [normalise_key(t) for t in first["text"]]
    assert len(keys) == len(set(keys))  # nothing equals an existing train text or another new one
    assert not held_out & {normalise_key(t) for t in added["text"]}
    assert metrics["augmenters"]["backtranslation"]["dropped_leak"] >= 1
    # labels and source rows follow the row each paraphrase came from
    by_source = originals.set_index("source_row")["label"]
    assert (added["label"].to_numpy() == by_source.loc[added["source_row"]].to_numpy()).all()
    assert first.dtypes["label"] == "int64" and first.dtypes["source_row"] == "int64"
    syn = metrics["augmenters"]["synonym"]
    assert syn["rows_generated"] == 2 * len(TRAIN_REVIEWS) and 0 < syn["changed_share"] <= 1
    assert metrics["rows_added"] == len(added) > 0
    pair = samples["samples"]["synonym"][0]
    assert pair["before"] != pair["after"] and word_edit_distance(pair["before"], pair["after"]) > 0


def test_minority_balancing_in_the_stage(tmp_path, monkeypatch):
    write_clean(tmp_path)  # 7 positive, 5 negative: at most 2 negative rows may be added
    out = run_in_process(tmp_path, monkeypatch, {"augmenters": ["backtranslation"], "labels": "minority",
                                                  "backtranslation": BACKTRANSLATION})
    added = out[out["origin"] != "original"]
    assert list(added["label"]) == [0, 0]
    assert out["label"].value_counts().to_dict() == {0: 7, 1: 7}
