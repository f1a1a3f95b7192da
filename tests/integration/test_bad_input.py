"""The bad-input catalogue (docs/errors.md): each case fails with a one-line error naming the file, row or key
and what to do, and leaves no output; or, where the input is merely awkward, works.

Most cases call a stage's main() in-process (fast); a few run the real command to check the exit code, the
absence of a traceback and of partial output. Cases already in test_clean_stage.py, unit/test_config.py and
unit/test_clean.py (a split an earlier stage wrote) are not repeated.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from ftpipe.config.compose import compose_config, write_params
from ftpipe.infra.errors import PipelineError
from tests.helpers.faults import inside, make_workspace
from tests.helpers.inputs import ROWS, assert_clean_fails, clean_files, csv_bytes
from tests.helpers.project import run_stage

# ---- inputs that must fail, each naming the file/row/key and what to do ----------------------------------------
RARE = ROWS + [{"text": f"a rare opinion number {i}", "label": "rare"} for i in range(3)] + \
    [{"text": f"extra text {i} filler", "label": lab} for i in range(140) for lab in ("pos",)][:140]

FAILING = {
    "corrupt parquet": ({"t.parquet": b"PAR1 this is not parquet"},
                        ["t.parquet: cannot parse as parquet", "re-export it"], []),
    "ragged csv rows": ({"t.csv": b"text,label\nfine text,pos\nbad, extra comma,neg\n"},
                        ["t.csv: cannot parse as csv: Expected 2 fields in line 3, saw 3", "data.csv_sep"], []),
    "malformed jsonl line": ({"t.jsonl": b'{"text": "good", "label": "pos"}\n{"text": oops}\n'},
                             ["t.jsonl: cannot parse as jsonl: line 2 is not a JSON object"], []),
    "unknown extension": ({"t.txt": b"text,label\n"}, ["t.txt: cannot tell the format", "data.format"], []),
    "header only": ({"t.csv": b"text,label\n"}, ["t.csv: no rows"], []),
    "missing text column": ({"t.csv": csv_bytes([{"texts": r["text"], "label": r["label"]} for r in ROWS])},
                            ["no column 'text' (data.text_column); did you mean 'texts'?"], []),
    "all rows dropped": ({"t.csv": b"text,label\n!!,pos\n??,neg\n  ,pos\n"},
                         ["t.csv: every row was dropped by cleaning", "'empty_or_junk': 3", "data.min_chars"], []),
    "class too small for the split": ({"t.csv": csv_bytes(RARE)},
                                      ["class 'rare' has 3 row(s), too few to reach the", "at least 10 rows",
                                       "data.drop_labels"], []),
    "only one given split": ({"t.csv": csv_bytes(), "v.csv": csv_bytes(ROWS[:6])},
                             ["data.validation_path and data.test_path: give both or neither"],
                             ["data.validation_path=data/raw/v.csv"]),
    "validation label unseen in train": (
        {"t.csv": csv_bytes(), "v.csv": csv_bytes([{"text": "a neutral take", "label": "neu"}] * 1 +
                                                  [{"text": "another fine one", "label": "pos"}]),
         "s.csv": csv_bytes([{"text": "yet another text", "label": "neg"}])},
        ["label 'neu' never occurs in the training file", "data.drop_labels"],
        ["data.validation_path=data/raw/v.csv", "data.test_path=data/raw/s.csv"]),
    "max_rows sample with a one-row class": ({"t.csv": csv_bytes(ROWS + [{"text": "a lonely opinion",
                                                                           "label": "solo"}])},
                                             ["data.max_rows: cannot take a stratified sample of 20 rows",
                                              "set it to null"], ["data.max_rows=20"]),
    "split shares sum to 1": ({"t.csv": csv_bytes()}, ["data.split: validation + test = 1", "below 1"],
                              ["data.split.validation=0.5", "data.split.test=0.5"]),
    "unknown data.format": ({"t.csv": csv_bytes()}, ["data.format: unknown value 'xlsx'"], ["data.format=xlsx"]),
    "multi-character csv_sep": ({"t.csv": csv_bytes()}, ["data.csv_sep: must be one character"],
                                ["data.csv_sep=ab"]),
    "text and label the same column": ({"t.csv": csv_bytes()}, ["data.text_column and data.label_column"],
                                       ["data.label_column=text"]),
}


@pytest.mark.parametrize("case", FAILING)
def test_clean_rejects(tmp_path, case):
    files, expected, overrides = FAILING[case]
    assert_clean_fails(tmp_path, files, expected, *overrides)


# ---- awkward inputs that must work --------------------------------------------------------------------------------
def clean_texts(ws: Path) -> list[str]:
    return [t for s in ("train", "validation", "test") for t in pd.read_parquet(ws / f"data/clean/{s}.parquet")["text"]]


def test_quoted_newlines_bom_and_semicolons_are_read(tmp_path):
    rows = [{"text": f"line one {i};\nline two, still {r['text']}", "label": r["label"]} for i, r in enumerate(ROWS)]
    content = "\ufeff".encode() + csv_bytes(rows, sep=";")
    report = clean_files(tmp_path, {"t.csv": content})
    assert report["rows_kept"] == 60
    assert all("\n" not in t and t.startswith("line one") for t in clean_texts(tmp_path))


def test_explicit_separator_overrides_sniffing(tmp_path):
    assert clean_files(tmp_path, {"t.csv": csv_bytes(sep="|")}, "data.csv_sep='|'")["rows_kept"] == 60


def test_single_column_csv_reports_the_missing_label_column(tmp_path):
    # a lone column must not be split on a letter by a confused delimiter sniffer
    assert_clean_fails(tmp_path, {"t.csv": b"text\nhello there\nbye now\n"}, ["no column 'label'"])


def test_empty_nan_and_whitespace_texts_are_dropped_and_counted(tmp_path):
    extra = b'"",pos\n"   ",neg\n"\t\n",pos\n,neg\n'
    report = clean_files(tmp_path, {"t.csv": csv_bytes() + extra})
    assert report["rows_kept"] == 60 and report["dropped_empty_or_junk"] == 4


def test_a_one_megabyte_line_is_dropped_as_too_long(tmp_path):
    report = clean_files(tmp_path, {"t.csv": csv_bytes() + b"word " * 200_000 + b",pos\n"})
    assert report["rows_kept"] == 60 and report["dropped_too_long"] == 1


def test_control_and_zero_width_characters_are_removed_before_dedup(tmp_path):
    noisy = [{"text": "\u200b" + r["text"].replace(" ", " \x07", 1) + "\u200d", "label": r["label"]} for r in ROWS]
    report = clean_files(tmp_path, {"t.csv": csv_bytes(ROWS + noisy)})
    assert report["rows_kept"] == 60 and report["dropped_duplicate_exact"] == 60
    assert not any(ch in t for t in clean_texts(tmp_path) for ch in "\u200b\u200d\x07")


def test_duplicates_with_conflicting_labels_are_dropped_from_the_pipeline(tmp_path):
    flipped = [{"text": r["text"], "label": "neg" if r["label"] == "pos" else "pos"} for r in ROWS[:4]]
    report = clean_files(tmp_path, {"t.csv": csv_bytes(ROWS + flipped)})
    assert report["dropped_conflicting_labels"] == 8 and report["rows_kept"] == 56


# ---- bad config values: each stage checks its keys before doing any work ----------------------------------------
def run_main(ws: Path, stage: str, *overrides: str) -> None:
    write_params(compose_config(list(overrides)), ws / "params.yaml")
    with inside(ws):
        module = __import__(f"stages.{stage}", fromlist=["main"])
        module.main()


@pytest.mark.parametrize("stage, override, expected", [
    ("train", "train.lr=-0.001", "train.lr: must be a positive number, got -0.001"),
    ("train", "train.batch_size=0", "train.batch_size: must be a positive integer, got 0"),
    ("train", "train.optimizer=adam", "train.optimizer: unknown value 'adam'; use one of adamw, sgd, rmsprop"),
    ("train", "train.scheduler=step", "train.scheduler: unknown value 'step'"),
    ("train", "train.warmup_ratio=1.5", "train.warmup_ratio: must be a number >= 0 and < 1"),
    ("train", "train.early_stopping.metric=loss", "train.early_stopping.metric: unknown value 'loss'"),
    ("train", "train.checkpoint.keep=0", "train.checkpoint.keep: must be a positive integer, got 0"),
    ("train", "train.precision=fp8", "train.precision: unknown value 'fp8'; use one of fp32, bf16, fp16, auto"),
    ("tokenize", "model.max_length=0", "model.max_length: must be an integer >= 8"),
])
def test_bad_config_values_fail_first(tmp_path, stage, override, expected):
    # the workspace is empty: the check must come before any input is read
    with pytest.raises(PipelineError) as raised:
        run_main(tmp_path, stage, override)
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_unknown_augmenter_is_refused(tmp_path):
    (tmp_path / "data/clean").mkdir(parents=True)
    pd.DataFrame({"text": ["a b c"], "label": [0], "source_row": [1]}).to_parquet(tmp_path / "data/clean/train.parquet")
    with pytest.raises(PipelineError, match=r"augment\.augmenters.*no_such_augmenter"):
        run_main(tmp_path, "augment", "augment.augmenters=[no_such_augmenter]")
    assert not (tmp_path / "data/augmented").exists()


# ---- models --------------------------------------------------------------------------------------------------------
def test_max_length_above_the_models_limit(tmp_path, tiny_model_dir):
    with pytest.raises(PipelineError, match="model.max_length: 1024 exceeds the model's limit of 512"):
        run_main(tmp_path, "tokenize", f"model.name_or_path={tiny_model_dir}", "model.max_length=1024")


@pytest.mark.parametrize("make, expected", [
    (lambda d: d.mkdir(), "is not a model directory (no config.json)"),
    (lambda d: None, "does not exist"),
])
def test_a_path_that_is_not_a_model(tmp_path, make, expected):
    target = tmp_path / "not-a-model"
    make(target)
    with pytest.raises(PipelineError, match=re.escape(expected)):
        run_main(tmp_path, "tokenize", f"model.name_or_path={target}")


def test_a_model_directory_without_weights(tmp_path, tiny_model_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (broken / name).write_bytes((tiny_model_dir / name).read_bytes())
    ws = make_workspace(tmp_path / "ws", tiny_model_dir)
    with pytest.raises(PipelineError, match="cannot be loaded as a classifier.*holds the model's weights"):
        run_main(ws, "train", f"model.name_or_path={broken}")


def test_label_count_that_does_not_match_the_models_head(tmp_path, tiny_model_dir):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    three = tmp_path / "three-labels"
    config = AutoConfig.from_pretrained(tiny_model_dir, num_labels=3)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(three)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (three / name).write_bytes((tiny_model_dir / name).read_bytes())
    ws = make_workspace(tmp_path / "ws", three)
    with pytest.raises(PipelineError, match="head for 3 labels but the data has 2; set model.reinit_head=true"):
        run_main(ws, "train", f"model.name_or_path={three}", "mlflow.log_model=false")
    assert not (ws / "models/finetuned").exists()
    from omegaconf import OmegaConf

    from ftpipe.training.models import load_classifier
    replaced = load_classifier(str(three), ["neg", "pos"], OmegaConf.create({"reinit_head": True}))
    assert replaced.classifier.out_features == 2  # as the message says: reinit_head=true replaces the head


# ---- the real commands: exit code, one line on stderr, no traceback, nothing half-written -------------------------
def test_stage_commands_fail_with_one_line_and_no_output(project):
    (project / "data/raw/t.parquet").write_bytes(b"PAR1 corrupt")
    write_params(compose_config(["data=custom", "data.path=data/raw/t.parquet"]), project / "params.yaml")
    result = run_stage("clean", project, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: data/raw/t.parquet: cannot parse as parquet")
    assert not (project / "data/clean").exists() and not (project / "metrics/clean.json").exists()

    result = run_stage("train", project, check=False)  # nothing upstream was ever made
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert last.startswith("error: data/") and "not found; run the earlier stages first" in last, result.stderr

    result = run_stage("clean", project, check=False, FTPIPE_VERBOSE="1")  # asked for: the traceback
    assert result.returncode != 0 and "Traceback" in result.stderr
