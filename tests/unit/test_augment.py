"""The augmenters on real WordNet 3.0, real Apertium and real nlpaug (run `make nlp-resources` first): names,
label caps, synonyms, back-translation. The augment stage is in integration/test_augment_stage.py."""
from __future__ import annotations

import re

import pandas as pd
import pytest
from omegaconf import OmegaConf

from ftpipe.augment.backtranslation import ApertiumBackend
from ftpipe.augment.generate import label_caps
from ftpipe.augment.resources import load_wordnet
from ftpipe.augment.synonym import CONTENT_TAGS, DEFAULT_STOPWORDS, SynonymAugmenter
from ftpipe.config.schema import augmenter_names
from ftpipe.infra.errors import PipelineError
from tests.helpers.data import TEST_REVIEWS, TRAIN_REVIEWS, VALIDATION_REVIEWS

WN_POS = {"N": "n", "V": "v", "J": "a", "R": "r"}


@pytest.fixture(scope="module")
def synonym_augmenter():
    return SynonymAugmenter(OmegaConf.create({"aug_p": 0.5, "aug_max": 10}))


def test_augmenter_names_accept_lists_and_plus_strings():
    assert augmenter_names("synonym+backtranslation") == ["synonym", "backtranslation"]
    assert augmenter_names(["backtranslation"]) == ["backtranslation"]
    assert augmenter_names(None) == augmenter_names("none") == augmenter_names([]) == []
    with pytest.raises(PipelineError, match=r"augment.augmenters\[1\]: unknown augmenter 'mixup'"):
        augmenter_names("synonym+mixup")
    with pytest.raises(PipelineError, match="lists an augmenter twice"):
        augmenter_names(["synonym", "synonym"])


def test_minority_caps_each_smaller_label_at_the_largest_size():
    labels = pd.Series([0, 0, 0, 0, 1, 2, 2])
    assert label_caps(labels, "minority", ["a", "b", "c"]) == {1: 3, 2: 2}
    assert label_caps(labels, ["b", 2], ["a", "b", "c"]) == {1: None, 2: None}
    with pytest.raises(PipelineError, match=r"augment.labels\[0\]: unknown label 'z'"):
        label_caps(labels, ["z"], ["a", "b", "c"])


def test_synonyms_are_wordnet_synonyms_with_the_same_pos(synonym_augmenter):
    wordnet = load_wordnet()
    texts = [t for t, _ in TRAIN_REVIEWS + VALIDATION_REVIEWS + TEST_REVIEWS]
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
    sentences = [t for t, _ in TRAIN_REVIEWS]
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


def test_unsupported_pivot_says_which_are_installed():
    with pytest.raises(PipelineError, match=r"pivots: Apertium has no mode 'eng-fra'.*eng-spa.*use es or ca"):
        ApertiumBackend("en", "fr")
