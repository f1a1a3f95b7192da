"""Property tests (hypothesis) of cleaning and splitting: idempotent, crash-free on any unicode, leak-free splits."""
from __future__ import annotations

from collections import Counter

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from ftpipe.config.compose import compose_config
from ftpipe.data.cleaning import check_leaks, clean_frame, split
from ftpipe.data.text import clean_text, normalise_key

DATA = compose_config(["data=custom"]).data
SHARES = {"train": 1 - DATA.split.validation - DATA.split.test, "validation": DATA.split.validation,
          "test": DATA.split.test}
# any unicode, with extra weight on what real scraped text carries: tags, entities, invisibles, controls
NASTY = st.sampled_from(["<b>", "</p>", "&amp;", "&lt;", "&gt;", "&#x200b;", "\u200b", "\u200d", "\ufeff",
                         "\x07", "\x00", "\r\n", "\t", "\u0301", "\u00a0", "Ａ", "ß", "İ", "e"])
TEXT = st.lists(st.one_of(st.text(max_size=8), NASTY), max_size=12).map("".join)
SETTINGS = settings(max_examples=80, deadline=None)


@SETTINGS
@given(TEXT, st.sampled_from(["NFC", "NFKC"]), st.booleans(), st.booleans())
def test_clean_text_is_idempotent(text, form, strip_html, lowercase):
    once = clean_text(text, form, strip_html, lowercase)
    assert clean_text(once, form, strip_html, lowercase) == once
    assert once == once.strip() and "  " not in once


@SETTINGS
@given(TEXT)
def test_normalise_key_is_idempotent_and_ignores_case_and_invisibles(text):
    key = normalise_key(text)
    assert normalise_key(key) == key
    assert normalise_key(text.upper() + "\u200b") == normalise_key(text.upper())


@SETTINGS
@given(st.lists(st.tuples(st.one_of(st.none(), TEXT), st.one_of(st.none(), st.sampled_from(["a", "b", " ", "plot"]))),
                max_size=30))
def test_clean_frame_survives_any_unicode_and_accounts_for_every_row(rows):
    df = pd.DataFrame(rows, columns=["text", "label"], dtype=object)
    df = df.assign(source_row=range(1, len(df) + 1), file="in.csv")
    drops = Counter()
    out = clean_frame(df, OmegaConf.merge(DATA, {"drop_labels": ["plot"]}), drops)
    assert len(out) + sum(drops.values()) == len(df)
    assert out["key"].is_unique  # no duplicate texts survive, with or without conflicting labels
    assert all(clean_text(t) == t for t in out["text"])


@SETTINGS
@given(st.lists(st.integers(10, 60), min_size=2, max_size=4), st.integers(0, 2**16))
def test_split_is_disjoint_complete_and_keeps_each_class_share_within_one(sizes, seed):
    rows = [{"text": f"text {c} {i}", "label": f"class{c}"} for c, n in enumerate(sizes) for i in range(n)]
    df = pd.DataFrame(rows).assign(key=lambda d: d["text"].map(normalise_key), source_row=1, file="in.csv")
    parts = split(df, DATA, seed)
    keys = [set(p["key"]) for p in parts.values()]
    assert sum(map(len, keys)) == len(set().union(*keys)) == len(df)  # every row once, in one split
    for name, part in parts.items():
        for c, n in enumerate(sizes):
            assert abs((part["label"] == f"class{c}").sum() - n * SHARES[name]) <= 1, (name, c, n)
    check_leaks(parts, "error")  # no normalised text in two splits
    assert {k: p.index.tolist() for k, p in split(df, DATA, seed).items()} == \
        {k: p.index.tolist() for k, p in parts.items()}  # same seed, same split
