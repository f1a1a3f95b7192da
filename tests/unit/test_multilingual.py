"""Non-English text: Chinese through cleaning and a real multilingual tokenizer (the stages are in
integration/test_multilingual_stages.py, every DVC stage in e2e/test_multilingual_dvc.py).

No multilingual weights are available offline, so `zh_model_dir` (conftest) trains a small WordPiece vocabulary
(mBERT-style: each hanzi its own piece) on the shipped Chinese sample and puts a tiny BERT under it.
"""
from __future__ import annotations

from collections import Counter

import pandas as pd

from ftpipe.config.compose import compose_config
from ftpipe.data.cleaning import clean_frame, load_source
from ftpipe.data.text import clean_text, is_junk
from ftpipe.data.tokens import length_stats, tokenize_texts
from ftpipe.training.models import load_tokenizer
from tests.helpers.config import data_cfg
from tests.helpers.models import ZH_SAMPLE as SAMPLE

ZH = "data=chinese_reviews"


def test_cjk_text_without_spaces_is_kept_whole_and_is_not_junk():
    text = "第二次来，这家餐厅确实味道很棒，强烈推荐。"
    assert clean_text(text) == text and not is_junk(text, min_chars=2)
    assert not is_junk("好看", min_chars=2) and is_junk("。。。！", min_chars=2) and is_junk("👍👍", min_chars=2)
    assert clean_text("\u200b很好看\u3000 ！", unicode_form="NFKC") == "很好看 !"  # zero-width, ideographic space


def test_nfkc_folds_full_width_forms_only_when_asked():
    text = "ＡＢＣ牌耳机，给１０分！"
    assert clean_text(text, unicode_form="NFKC") == "ABC牌耳机,给10分!"
    assert clean_text(text, unicode_form="NFC") == text


def test_char_limits_count_characters_not_bytes():
    rows = pd.DataFrame({"text": ["好" * 10, "好看" * 6], "label": ["好评", "好评"], "source_row": [1, 2],
                         "file": "in.csv"})
    drops = Counter()
    kept = clean_frame(rows, data_cfg(ZH, max_chars=10), drops)  # 10 hanzi are 30 UTF-8 bytes
    assert kept["text"].tolist() == ["好" * 10] and drops["too_long"] == 1


def test_chinese_sample_cleans_and_tokenizes_in_characters_and_tokens(zh_model_dir):
    data = data_cfg(ZH)
    drops = Counter()
    frame = clean_frame(load_source(str(SAMPLE), data, "path"), data, drops)
    assert drops["empty_or_junk"] == 2 and drops["duplicate_exact"] == 1      # the planted junk and duplicate
    assert len(frame) == 400 and set(frame["label"]) == {"好评", "差评"}
    assert not frame["text"].str.contains("[Ａ-Ｚ０-９！，]").any()          # NFKC folded full-width forms
    tokenizer = load_tokenizer(str(zh_model_dir))
    texts = frame["text"].tolist()
    ids, full = tokenize_texts(tokenizer, texts, max_length=12)
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(texts[0], add_special_tokens=False)["input_ids"])
    assert len(pieces) > 5 and "".join(p.removeprefix("##") for p in pieces) == texts[0].replace(" ", "")
    unk = sum(i == tokenizer.unk_token_id for row in ids for i in row)
    assert unk / sum(map(len, ids)) < 0.01                              # the vocabulary covers the script
    assert max(map(len, ids)) == 12 and all(row[-1] == tokenizer.sep_token_id for row in ids)
    stats = length_stats(full, 12)
    assert stats["truncated_share"] == round(float((full > 12).mean()), 4) > 0  # token limit, reported


def test_multilingual_model_option_composes():
    model = compose_config(["model=multilingual"]).model
    assert model.name_or_path == "bert-base-multilingual-cased" and model.max_length == 128
