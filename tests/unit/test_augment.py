"""Augment stage on real WordNet 3.0, real Apertium and real nlpaug (run `make nlp-resources` first)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from ftpipe.augment import parse_names
from ftpipe.augment.backtranslation import ApertiumBackend
from ftpipe.augment.generate import label_caps
from ftpipe.augment.quality import normalise_key, word_edit_distance
from ftpipe.augment.resources import load_wordnet
from ftpipe.augment.synonym import CONTENT_TAGS, DEFAULT_STOPWORDS, SynonymAugmenter
from ftpipe.infra.errors import PipelineError
from stages import augment

REPO = Path(__file__).resolve().parents[1]
TRAIN = [
    ("The acting is wonderful and the story keeps you guessing until the end.", 1),
    ("A beautiful film with a clever script and strong performances.", 1),
    ("The director builds tension slowly, and the payoff is worth the wait.", 1),
    ("Funny, warm and surprisingly moving, this comedy deserves a large audience.", 1),
    ("The music is lovely and the photography captures the city at night.", 1),
    ("An honest portrait of a family that refuses to give up hope.", 1),
    ("The plot is dull and the characters never feel real.", 0),
    ("A boring movie that wastes a talented cast on a silly script.", 0),
    ("The jokes fall flat and the pacing drags badly in the middle.", 0),
    ("It's a loud, empty picture with nothing to say.", 0),
    ("The red car is fast", 1),
    ("He paid $5 for <b>it</b> [sic] ^ \\ @home and left.", 0),
]
VALIDATION = [("A clever and moving drama about two old friends.", 1), ("The story is thin and the ending is weak.", 0)]
TEST = [("A tense thriller with a terrific lead performance.", 1), ("Slow, dull and far too long.", 0)]
SYNONYM = {"copies": 2, "aug_p": 0.3, "aug_min": 1, "aug_max": 10, "stopwords": ["story"]}
BACKTRANSLATION = {"pivots": ["es", "ca"], "backend": "apertium", "batch_size": 5}
WN_POS = {"N": "n", "V": "v", "J": "a", "R": "r"}


def write_clean(root: Path, train=TRAIN, validation=VALIDATION, test=TEST) -> None:
    """data/clean/{train,validation,test}.parquet + labels.json, as the clean stage writes them."""
    clean = root / "data" / "clean"
    clean.mkdir(parents=True, exist_ok=True)
    start = 0
    for name, rows in (("train", train), ("validation", validation), ("test", test)):
        frame = pd.DataFrame(rows, columns=["text", "label"]).astype({"label": "int64"})
        frame["source_row"] = pd.Series(range(start, start + len(rows)), dtype="int64")
        start += len(rows)
        frame.to_parquet(clean / f"{name}.parquet", index=False)
    (clean / "labels.json").write_text(json.dumps({"names": ["negative", "positive"]}))


def run_in_process(root: Path, monkeypatch, augment_cfg: dict, seed: int = 7) -> pd.DataFrame:
    (root / "params.yaml").write_text(yaml.safe_dump({"seed": seed, "augment": augment_cfg}))
    monkeypatch.chdir(root)
    monkeypatch.setenv("FTPIPE_PARAMS", str(root / "params.yaml"))
    augment.main()
    return pd.read_parquet(root / "data" / "augmented" / "train.parquet")


@pytest.fixture(scope="module")
def synonym_augmenter():
    return SynonymAugmenter(OmegaConf.create({"aug_p": 0.5, "aug_max": 10}))


def test_none_is_a_pass_through(tmp_path, monkeypatch):
    write_clean(tmp_path)
    out = run_in_process(tmp_path, monkeypatch, {"augmenters": []})
    train = pd.read_parquet(tmp_path / "data" / "clean" / "train.parquet")
    pd.testing.assert_frame_equal(out.drop(columns="origin"), train)
    assert set(out["origin"]) == {"original"}
    metrics = json.loads((tmp_path / "metrics" / "augment.json").read_text())
    assert metrics["rows_added"] == 0 and metrics["rows_total"] == len(TRAIN)


def run_as_process(root: Path, augment_cfg: dict, **env: str) -> subprocess.CompletedProcess:
    """`python -m stages.augment` in `root`, as DVC runs it."""
    write_clean(root)
    (root / "params.yaml").write_text(yaml.safe_dump({"seed": 1, "augment": augment_cfg}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "FTPIPE_PARAMS": str(root / "params.yaml"), **env}
    env.pop("FTPIPE_VERBOSE", None)
    return subprocess.run([sys.executable, "-m", "stages.augment"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


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


def test_augmenter_names_accept_lists_and_plus_strings():
    assert parse_names("synonym+backtranslation") == ["synonym", "backtranslation"]
    assert parse_names(None) == parse_names("none") == parse_names([]) == []


def test_english_only_augmenters_refuse_other_scripts(tmp_path, monkeypatch):
    russian = [("Фильм очень хороший и добрый.", 1), ("Скучный и длинный фильм.", 0)]
    write_clean(tmp_path, train=russian)
    with pytest.raises(PipelineError, match="does not look English.*require_english=false"):
        run_in_process(tmp_path, monkeypatch, {"augmenters": ["synonym"]})


def test_minority_caps_each_smaller_label_at_the_largest_size():
    labels = pd.Series([0, 0, 0, 0, 1, 2, 2])
    assert label_caps(labels, "minority", ["a", "b", "c"]) == {1: 3, 2: 2}
    assert label_caps(labels, ["b", 2], ["a", "b", "c"]) == {1: None, 2: None}
    with pytest.raises(PipelineError, match=r"augment.labels\[0\]: unknown label 'z'"):
        label_caps(labels, ["z"], ["a", "b", "c"])


def test_synonyms_are_wordnet_synonyms_with_the_same_pos(synonym_augmenter):
    wordnet = load_wordnet()
    texts = [t for t, _ in TRAIN + VALIDATION + TEST]
    results = synonym_augmenter.augment_detailed(texts, list(range(len(texts))))
    changes = [change for _, log in results for change in log]
    assert len(changes) >= len(texts)  # aug_p=0.5 changes several words per text
    tagged = dict(pair for tags in synonym_augmenter.tagger.tag_many([synonym_augmenter.aug.tokenizer(t)
                                                                       for t in texts]) for pair in tags)
    for old, new in changes:
        tag = tagged[old]
        assert tag in CONTENT_TAGS and old.lower() not in DEFAULT_STOPWORDS
        pos = WN_POS[tag[0]]
        poses = {"a", "s"} if pos == "a" else {pos}
        lemmas = {lemma.name().lower().replace("_", " ").replace("-", " ")
                  for synset in wordnet.synsets(old) if synset.pos() in poses for lemma in synset.lemmas()}
        assert new.lower() in lemmas, (old, tag, new)


def test_synonyms_leave_stopwords_and_follow_the_seed(synonym_augmenter):
    texts = ["It is what it is, and it was theirs, not ours."]
    assert synonym_augmenter.augment(texts, [3]) == texts  # only stop-words: nothing to change
    sentences = [t for t, _ in TRAIN]
    first = synonym_augmenter.augment(sentences, list(range(len(sentences))))
    reversed_batch = synonym_augmenter.augment(sentences[::-1], list(range(len(sentences)))[::-1])
    assert first == reversed_batch[::-1]  # per-text seeds: batch order does not matter


def test_apertium_keeps_order_and_count_on_hostile_text():
    texts = ["Item 101 costs $5 < 6 > 4 [x] ^y \\z @home", "", "item 102 the red", "   ",
             "car 103 is fast", 'He said "item 104" and \'left\'.', "line 105\n\nsecond paragraph\nthird",
             "item 106 " + "a very long line with many words in it " * 300, "^ 107 $", "[108]", "@109 \\", "<110>"]
    backend = ApertiumBackend("en", "es")
    spanish = backend.translate(texts, forward=True)
    back = backend.translate(spanish, forward=False)
    assert len(spanish) == len(back) == len(texts)
    for text, out in zip(texts, back):
        ids = set(re.findall(r"1\d\d", text))
        assert set(re.findall(r"1\d\d", out)) == ids  # each text's number stays in its own line
        assert (out.strip() == "") == (text.strip() == "")
        assert "\n" not in out
    assert len(back[7]) > 5000


def test_stage_drops_leaks_and_duplicates_and_is_deterministic(tmp_path, monkeypatch):
    # Plant a leak: the validation split holds exactly what back-translation makes of a train text.
    bt = ApertiumBackend("en", "es")
    planted = bt.translate(bt.translate([TRAIN[0][0]]), forward=False)[0]
    assert normalise_key(planted) != normalise_key(TRAIN[0][0])
    write_clean(tmp_path, validation=VALIDATION + [(planted, 1)])
    cfg = {"augmenters": ["synonym", "backtranslation"], "synonym": SYNONYM, "backtranslation": BACKTRANSLATION}
    first = run_in_process(tmp_path, monkeypatch, cfg)
    metrics = json.loads((tmp_path / "metrics" / "augment.json").read_text())
    samples = json.loads((tmp_path / "reports" / "augment_samples.json").read_text())
    second = run_in_process(tmp_path, monkeypatch, cfg)
    pd.testing.assert_frame_equal(first, second)

    originals = first[first["origin"] == "original"]
    added = first[first["origin"] != "original"]
    assert list(first["origin"][:len(TRAIN)]) == ["original"] * len(TRAIN)  # originals first
    assert set(added["origin"]) == {"synonym", "backtranslation"}
    held_out = {normalise_key(t) for t, _ in VALIDATION + TEST + [(planted, 1)]}
    keys = [normalise_key(t) for t in first["text"]]
    assert len(keys) == len(set(keys))  # nothing equals an existing train text or another new one
    assert not held_out & {normalise_key(t) for t in added["text"]}
    assert metrics["augmenters"]["backtranslation"]["dropped_leak"] >= 1
    # labels and source rows follow the row each paraphrase came from
    by_source = originals.set_index("source_row")["label"]
    assert (added["label"].to_numpy() == by_source.loc[added["source_row"]].to_numpy()).all()
    assert first.dtypes["label"] == "int64" and first.dtypes["source_row"] == "int64"
    syn = metrics["augmenters"]["synonym"]
    assert syn["rows_generated"] == 2 * len(TRAIN) and 0 < syn["changed_share"] <= 1
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


def test_unsupported_pivot_says_which_are_installed():
    with pytest.raises(PipelineError, match=r"pivots: Apertium has no mode 'eng-fra'.*eng-spa.*use es or ca"):
        ApertiumBackend("en", "fr")
