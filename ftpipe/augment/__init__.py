"""Paraphrases of train rows for the augment stage: WordNet synonyms and back-translation, leak-safe.

Each augmenter has a `name` (the `origin` tag of its rows), `copies` (paraphrases per selected row),
`batch_size`, and `augment(texts, seeds, copy) -> texts` (same order and count; one seed per text).
`build(name, cfg)` makes one from its block of the `augment` config; modules load lazily, so
`augment=none` never imports nlpaug, spaCy or transformers.
"""
from __future__ import annotations

from typing import Any

from ftpipe.config.schema import AUGMENTERS, augmenter_names


def _synonym() -> type:
    from ftpipe.augment.synonym import SynonymAugmenter

    return SynonymAugmenter


def _backtranslation() -> type:
    from ftpipe.augment.backtranslation import BacktranslationAugmenter

    return BacktranslationAugmenter


REGISTRY = {"synonym": _synonym, "backtranslation": _backtranslation}  # the names config.schema knows
assert tuple(REGISTRY) == AUGMENTERS, "config.schema.AUGMENTERS and this registry must list the same augmenters"


def is_english_only(name: str, cfg: Any) -> bool:
    """WordNet synonyms are English; back-translation is English when its source language is."""
    block = cfg.get(name) or {}
    return name == "synonym" or str(block.get("source_lang", "en")) == "en"


def build(name: str, cfg: Any) -> Any:
    """The augmenter `name`, configured by `cfg[name]` (the augmenter's block of the `augment` config)."""
    augmenter_names([name])
    return REGISTRY[name]()(cfg.get(name) or {})
