"""Non-English text: Chinese through cleaning, a real multilingual tokenizer, and every DVC stage.

No multilingual weights are available offline, so `zh_model_dir` trains a small WordPiece vocabulary
(mBERT-style: each hanzi its own piece) on the shipped Chinese sample and puts a tiny BERT under it.
"""
from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest

from ftpipe.config.compose import compose_config
from ftpipe.data.cleaning import clean_frame, load_source
from ftpipe.data.text import clean_text, is_junk
from ftpipe.data.tokens import length_stats, tokenize_texts
from ftpipe.training.models import load_tokenizer
from tests.conftest import ROOT, compose_params, run, run_stage

SAMPLE = ROOT / "data/samples/zh_reviews.csv"
STAGES = ["clean", "augment", "tokenize", "train", "evaluate", "compress"]


@pytest.fixture(scope="session")
def zh_model_dir(tmp_path_factory):
    return build_zh_model(tmp_path_factory.mktemp("zh-bert"))


def build_zh_model(out):
    """A BERT tokenizer trained here on the Chinese sample (plus a few Latin words) and a 2-layer BERT."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(handle_chinese_chars=True, lowercase=False, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    texts = pd.read_csv(SAMPLE)["text"].tolist() + ["a good film, OK! 10 points"]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=2000, special_tokens=specials))
    tokenizer = BertTokenizerFast(tokenizer_object=tok, model_max_length=128, do_lower_case=False,
                                  tokenize_chinese_chars=True)
    tokenizer.save_pretrained(out)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertForSequenceClassification(config).save_pretrained(out)
    return out


def data_cfg(**overrides):
    from omegaconf import OmegaConf

    return OmegaConf.merge(compose_config(["data=chinese_reviews"]).data, overrides)


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
    kept = clean_frame(rows, data_cfg(max_chars=10), drops)  # 10 hanzi are 30 UTF-8 bytes
    assert kept["text"].tolist() == ["好" * 10] and drops["too_long"] == 1


def test_chinese_sample_cleans_and_tokenizes_in_characters_and_tokens(zh_model_dir):
    data = data_cfg()
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


@pytest.mark.slow
def test_chinese_reviews_pass_every_dvc_stage(project, zh_model_dir):
    """`dvc repro` of the whole DAG on the shipped Chinese sample with the tiny multilingual BERT.

    Full fine-tuning: its weights are random, so LoRA on a frozen random encoder would learn nothing."""
    compose_params(project, "data=chinese_reviews", f"model.name_or_path={zh_model_dir}", "model.max_length=64",
                   "train.epochs=4", "train.batch_size=16", "train.lr=1e-3", "compress.latency.repeats=5",
                   "compress.distill.layers=1")
    output = run(["dvc", "repro"], project).stdout
    assert [s for s in STAGES if f"Running stage '{s}'" in output] == STAGES
    labels = json.loads((project / "data/clean/labels.json").read_text())["names"]
    assert labels == ["好评", "差评"]
    tokenized = json.loads((project / "metrics/tokenize.json").read_text())
    assert 8 < tokenized["train"]["mean"] < 40                          # about one token per hanzi
    metrics = json.loads((project / "metrics/metrics.json").read_text())
    assert set(metrics["per_class"]) == {"好评", "差评"} and metrics["accuracy"] > 0.6
    worst = pd.read_csv(project / "reports/evaluate/misclassified.csv")
    assert worst.empty or worst["text"].str.contains("[\u4e00-\u9fff]").all()
    assert "torch_int8" in json.loads((project / "metrics/compression.json").read_text())


def test_clean_and_tokenize_stages_run_on_chinese(project, zh_model_dir):
    """The fast check of the real stage processes on the Chinese sample (the full DAG is the slow test)."""
    compose_params(project, "data=chinese_reviews", f"model.name_or_path={zh_model_dir}")
    for stage in ("clean", "augment", "tokenize"):
        run_stage(stage, project)
    clean = json.loads((project / "metrics/clean.json").read_text())
    assert clean["rows_kept"] == 400 and clean["dropped_empty_or_junk"] == 2
    test = pd.read_parquet(project / "data/clean/test.parquet")
    assert test["text"].str.contains("[\u4e00-\u9fff]").all()
