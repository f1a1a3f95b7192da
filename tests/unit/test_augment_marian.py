"""The marian back-translation backend on a tiny MarianMT model that the test builds and saves (no hub)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

spm = pytest.importorskip("sentencepiece")
torch = pytest.importorskip("torch")
from transformers import MarianConfig, MarianMTModel, MarianTokenizer  # noqa: E402

from ftpipe.augment.backtranslation import BacktranslationAugmenter, MarianBackend  # noqa: E402
from ftpipe.infra.errors import PipelineError  # noqa: E402

CORPUS = ["the red car is fast", "a big house on the hill", "old man walks home", "quiet story, loud ending!"]


def save_tiny_marian(folder: Path) -> Path:
    """A character-level SentencePiece vocabulary and a 1-layer Marian model with random weights."""
    folder.mkdir(parents=True)
    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS * 10), model_writer=proto, vocab_size=40,
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


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory) -> Path:
    return save_tiny_marian(tmp_path_factory.mktemp("marian") / "opus-mt-en-xx")


def test_marian_batches_keep_order_and_count(tiny_marian):
    backend = MarianBackend(str(tiny_marian), str(tiny_marian), batch_size=3, max_new_tokens=8, device="cpu")
    texts = ["the red car", "", "a big house on the hill, old man walks home", "hello", "  ", "quiet story!",
             "fast"]
    batched = backend.translate(texts, forward=True)
    alone = [backend.translate([text], forward=True)[0] for text in texts]
    assert len(batched) == len(texts)
    assert batched == alone  # sorted-by-length batching puts every output back in its row
    assert batched[1] == batched[4] == ""  # empty or blank texts are never sent
    assert all(isinstance(out, str) for out in batched)


def test_marian_backend_through_the_augmenter_with_path_templates(tiny_marian):
    cfg = OmegaConf.create({"backend": "marian", "pivots": ["xx"], "batch_size": 4,
                            "marian": {"forward": str(tiny_marian.parent / "opus-mt-{source}-{pivot}"),
                                       "backward": str(tiny_marian.parent / "opus-mt-{source}-{pivot}")}})
    augmenter = BacktranslationAugmenter(cfg)
    out = augmenter.augment(CORPUS + [""], seeds=[0] * 5, copy=0)
    assert len(out) == 5 and out[-1] == ""


def test_missing_marian_model_is_a_one_line_error(tmp_path):
    with pytest.raises(PipelineError, match="marian model .* cannot be loaded.*local folders"):
        MarianBackend(str(tmp_path / "nowhere"), str(tmp_path / "nowhere"))
