"""Cleaning and splitting (ftpipe.data): normalisation, dedup, conflicts, label order, splits without leaks, and
the check of a split an earlier stage wrote. The clean command itself is in integration/test_clean_stage.py."""
from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from ftpipe.data.cleaning import clean_frame, label_names, split
from ftpipe.data.tables import read_split
from ftpipe.data.text import clean_text, normalise_key
from ftpipe.infra.errors import PipelineError
from tests.helpers.config import data_cfg
from tests.helpers.data import sentiment_rows


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


def test_a_low_data_cut_shrinks_the_train_split_alone(tmp_path):
    from ftpipe.data.cleaning import build_splits

    path = tmp_path / "rows.csv"
    frame(sentiment_rows(200, ("pos", "neg"))).to_csv(path, index=False)
    full, _ = build_splits(data_cfg("data=custom", f"data.path={path}"), 42, Counter(), Counter())
    notes = Counter()
    cut, _ = build_splits(data_cfg("data=custom", f"data.path={path}", "data.max_train_rows=40"), 42, Counter(), notes)
    assert len(cut["train"]) == 40 and notes["train_rows_cut"] == len(full["train"]) - 40
    assert set(cut["train"]["key"]) < set(full["train"]["key"])                 # a subset of the same split
    for name in ("validation", "test"):                                          # scored on the same rows
        assert cut[name]["text"].tolist() == full[name]["text"].tolist()
    assert cut["train"]["label"].value_counts().to_dict() == {"pos": 20, "neg": 20}


def test_label_names_order_and_single_class():
    assert label_names(pd.Series(["10", "2", "1"])) == ["1", "2", "10"]
    assert label_names(pd.Series(["b", "a"])) == ["a", "b"]
    with pytest.raises(PipelineError, match="only one class"):
        label_names(pd.Series(["a", "a"]))


def test_a_split_written_by_an_earlier_stage_is_checked_before_use(tmp_path):
    path = tmp_path / "train.parquet"
    with pytest.raises(PipelineError, match=r"train\.parquet: not found; run the stages before"):
        read_split(path)
    pd.DataFrame({"text": ["a", "b"], "other": [0, 1]}).to_parquet(path)
    with pytest.raises(PipelineError, match=r"column\(s\) \['label'\] missing"):
        read_split(path)
    pd.DataFrame({"text": ["a", None], "label": [0, 1]}).to_parquet(path)
    with pytest.raises(PipelineError, match=r"row 1: 'text' is not a string"):
        read_split(path)
    pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}).to_parquet(path)
    assert read_split(path)["label"].tolist() == [0, 1]
