"""clean: normalisation, dedup, conflicts, splits without leaks, and one-line errors on bad input."""
from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest
from omegaconf import OmegaConf

from ftpipe.config.compose import compose_config
from ftpipe.data.cleaning import clean_frame, label_names, split
from ftpipe.data.text import clean_text, normalise_key
from ftpipe.infra.errors import PipelineError
from tests.conftest import compose_params, run_stage, sentiment_rows


def data_cfg(**overrides):
    cfg = compose_config(["data=custom"]).data
    return OmegaConf.merge(cfg, overrides)


def frame(rows):
    df = pd.DataFrame(rows)
    return df.assign(source_row=range(1, len(df) + 1), file="in.csv")


def test_clean_text_strips_html_controls_and_zero_width():
    assert clean_text("<b>Great</b>&amp; \u200bfun\x07\n\n film ") == "Great & fun film"
    assert clean_text("ｆｕｌｌ width", unicode_form="NFKC") == "full width"
    assert clean_text("电影很好看") == "电影很好看"  # CJK without spaces is kept whole


def test_normalise_key_ignores_case_width_space_and_edge_punctuation():
    assert normalise_key("  A  Great Film!! ") == normalise_key("a great film") == normalise_key("Ａ great film")


def test_clean_frame_counts_every_drop_reason():
    rows = [{"text": "good film", "label": "pos"}, {"text": "good film", "label": "pos"},     # exact dup
            {"text": "Good  film!", "label": "pos"},                                             # normalised dup
            {"text": "same words", "label": "pos"}, {"text": "same words", "label": "neg"},      # conflict
            {"text": "!!", "label": "neg"}, {"text": None, "label": "neg"},                       # junk, empty
            {"text": "no label here", "label": None}, {"text": "a plot summary", "label": "plot"},
            {"text": "bad film", "label": "neg"}]
    drops = Counter()
    out = clean_frame(frame(rows), data_cfg(drop_labels=["plot"]), drops)
    assert sorted(out["text"]) == ["bad film", "good film"]
    assert drops == Counter(duplicate_exact=1, duplicate_normalised=1, conflicting_labels=2, empty_or_junk=2,
                            missing_label=1, excluded_label=1, too_long=0)


def test_split_is_stratified_seeded_and_disjoint():
    rows = sentiment_rows(50, ("pos", "neg", "neu"))
    df = clean_frame(frame(rows), data_cfg(), Counter())
    a, b = split(df, data_cfg(), seed=1), split(df, data_cfg(), seed=1)
    assert all(a[s]["text"].tolist() == b[s]["text"].tolist() for s in a)
    keys = [set(part["key"]) for part in a.values()]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert sum(len(p) for p in a.values()) == len(df)
    for part in a.values():
        assert set(part["label"]) == {"pos", "neg", "neu"}


def test_label_names_order_and_single_class():
    assert label_names(pd.Series(["10", "2", "1"])) == ["1", "2", "10"]
    assert label_names(pd.Series(["b", "a"])) == ["a", "b"]
    with pytest.raises(PipelineError, match="only one class"):
        label_names(pd.Series(["a", "a"]))


def run_clean(project, path, *overrides):
    compose_params(project, "data=custom", f"data.path={path}", *overrides)
    return run_stage("clean", project, check=False)


@pytest.mark.parametrize("case, content, expected", [
    ("missing.csv", None, "file not found"),
    ("nolabel.csv", b"text,lable\nhello there,pos\nbye now,neg\n",
     "no column 'label' (data.label_column); did you mean 'lable'"),
    ("empty.csv", b"", "the file is empty"),
    ("oneclass.csv", b"text,label\n" + b"".join(b"text number %d,pos\n" % i for i in range(9)), "only one class"),
    ("latin1.csv", "text,label\ncaf\u00e9 ok,pos\nbad,neg\n".encode("latin-1"), "not valid utf-8 at byte"),
])
def test_bad_input_is_one_line_error_and_no_output(project, write_table, case, content, expected):
    path = project / "data" / "raw" / case
    if content is not None:
        path.write_bytes(content)
    result = run_clean(project, path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and expected in lines[-1], result.stderr
    assert "Traceback" not in result.stderr
    if case != "missing.csv":
        assert str(path) in lines[-1]
    assert not (project / "data" / "clean").exists() and not (project / "metrics" / "clean.json").exists()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_user_files_in_every_format_with_integer_labels(project, write_table, fmt):
    rows = [{"body": r["text"], "stars": {"pos": 5, "neg": 1, "neu": 3}[r["label"]]}
            for r in sentiment_rows(20, ("pos", "neg", "neu"))]
    path = write_table(f"reviews.{fmt}", rows)
    run_clean(project, path, "data.text_column=body", "data.label_column=stars")
    labels = (project / "data/clean/labels.json").read_text()
    assert '"1"' in labels and '"3"' in labels and '"5"' in labels
    train = pd.read_parquet(project / "data/clean/train.parquet")
    assert list(train.columns) == ["text", "label", "source_row"] and train["label"].between(0, 2).all()


def test_given_splits_that_overlap_are_refused(project, write_table):
    rows = sentiment_rows(20)
    train, val, test = write_table("t.csv", rows), write_table("v.csv", rows[:4]), write_table("s.csv", rows[4:8])
    result = run_clean(project, train, f"data.validation_path={val}", f"data.test_path={test}")
    assert result.returncode != 0 and "also appears in the validation split" in result.stderr
    result = run_clean(project, train, f"data.validation_path={val}", f"data.test_path={test}",
                       "data.on_split_overlap=drop_from_train")
    assert result.returncode == 0, result.stderr
    assert len(pd.read_parquet(project / "data/clean/train.parquet")) == len(rows) - 8
