"""Leak and duplicate checks, the English check, and edit distances for the augment report."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ftpipe.data.text import normalise_key  # the clean stage's key: both stages agree on "the same text"
from ftpipe.infra.errors import PipelineError

LETTER = re.compile(r"[^\W\d_]")


def ascii_letter_share(texts: Iterable[str]) -> float:
    """Share of letters that are ASCII a-z/A-Z: ~1.0 for English, far lower for most other scripts."""
    letters = ascii_letters = 0
    for text in texts:
        found = LETTER.findall(text)
        letters += len(found)
        ascii_letters += sum(c.isascii() for c in found)
    return ascii_letters / letters if letters else 1.0


def require_english(texts: Sequence[str], augmenters: Sequence[str], min_share: float) -> None:
    """English-only augmenters refuse text that does not look English (set augment.require_english=false)."""
    share = ascii_letter_share(texts)
    if share < min_share:
        raise PipelineError(
            f"data/clean/train.parquet: only {share:.0%} of letters are ASCII, so the text does not look English, "
            f"but augmenters {list(augmenters)} are English-only; set augment.require_english=false to force them")


def word_edit_distance(a: str, b: str) -> int:
    """Levenshtein distance over whitespace-separated words (insert, delete, substitute a word)."""
    x, y = a.split(), b.split()
    previous = list(range(len(y) + 1))
    for i, xi in enumerate(x, 1):
        current = [i]
        for j, yj in enumerate(y, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (xi != yj)))
        previous = current
    return previous[-1]


def drop_reason(text: str, original: str, taken: set[str], held_out: set[str]) -> str | None:
    """Why an augmented text must not be kept, or None; `taken` holds the keys of train texts kept so far."""
    key = normalise_key(text)
    if not key or key == normalise_key(original):
        return "unchanged"
    if key in held_out:
        return "leak"
    if key in taken:
        return "duplicate"
    return None
