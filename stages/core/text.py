"""Text normalisation shared by cleaning, augmentation leak checks and splitting.

Script-neutral: nothing here assumes ASCII or spaces between words, so CJK text is safe.
"""
from __future__ import annotations

import html
import re
import unicodedata

_TAG = re.compile(r"<[^>]{0,200}>")
_SPACE = re.compile(r"\s+")
# zero-width and BOM characters that survive NFC and make equal-looking texts differ
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")


def clean_text(text: str, unicode_form: str = "NFC", strip_html: bool = True, lowercase: bool = False) -> str:
    """Normalise unicode, drop HTML tags and control characters, collapse whitespace."""
    text = unicodedata.normalize(unicode_form, text)
    if strip_html:
        text = html.unescape(_TAG.sub(" ", text))
    text = text.translate(_INVISIBLE)
    # control characters (Cc/Cf) other than whitespace become spaces
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") and not ch.isspace() else ch for ch in text)
    text = _SPACE.sub(" ", text).strip()
    return text.lower() if lowercase else text


def normalise_key(text: str) -> str:
    """The identity of a text for dedup and leak checks: case-, width- and spacing-insensitive."""
    key = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()
    key = _SPACE.sub(" ", key).strip()
    return _EDGE_PUNCT.sub("", key)


def is_junk(text: str, min_chars: int) -> bool:
    """Too short, or no letter/digit in any script (e.g. only punctuation or emoji)."""
    return len(text) < min_chars or not any(ch.isalnum() for ch in text)
