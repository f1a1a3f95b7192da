"""The marian back-translation backend on a tiny MarianMT model built and saved here (helpers.models; no hub)."""
from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ftpipe.augment.backtranslation import BacktranslationAugmenter, MarianBackend
from ftpipe.infra.errors import PipelineError
from tests.helpers.models import MARIAN_CORPUS as CORPUS
from tests.helpers.models import save_tiny_marian


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
