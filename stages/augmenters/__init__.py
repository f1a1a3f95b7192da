"""Text augmenters for the augment stage.

Each augmenter has a `name` (the `origin` tag of its rows), `copies` (paraphrases per selected row),
`batch_size`, and `augment(texts, seeds, copy) -> texts` (same order and count; one seed per text).
`build(name, cfg)` makes one from its block of the `augment` config; modules load lazily, so
`augment=none` never imports nlpaug, spaCy or transformers.
"""
from __future__ import annotations

import importlib
from typing import Any

from stages.core.errors import PipelineError

REGISTRY = {
    "synonym": ("stages.augmenters.synonym", "SynonymAugmenter"),
    "backtranslation": ("stages.augmenters.backtranslation", "BacktranslationAugmenter"),
}


def parse_names(value: Any) -> list[str]:
    """`augment.augmenters`: a list, a `synonym+backtranslation` string, or empty/None for no augmentation."""
    if value is None or value == "none":
        return []
    items = value.split("+") if isinstance(value, str) else list(value)
    names = [str(item).strip() for item in items if str(item).strip()]
    for i, name in enumerate(names):
        if name not in REGISTRY:
            raise PipelineError(f"augment.augmenters[{i}]: unknown augmenter '{name}' (known: {', '.join(REGISTRY)})")
    if len(set(names)) != len(names):
        raise PipelineError(f"augment.augmenters: {names} lists an augmenter twice")
    return names


def is_english_only(name: str, cfg: Any) -> bool:
    """WordNet synonyms are English; back-translation is English when its source language is."""
    block = cfg.get(name) or {}
    return name == "synonym" or str(block.get("source_lang", "en")) == "en"


def build(name: str, cfg: Any) -> Any:
    """The augmenter `name`, configured by `cfg[name]` (the augmenter's block of the `augment` config)."""
    parse_names([name])
    module, cls = REGISTRY[name]
    return getattr(importlib.import_module(module), cls)(cfg.get(name) or {})
