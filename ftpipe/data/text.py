"""Text normalisation shared by cleaning, augmentation leak checks and splitting.

Script-neutral: nothing here assumes ASCII or spaces between words, so CJK text is safe.
"""
from __future__ import annotations

import functools
import html
import re
import sys
import unicodedata

# real markup only: a comment, or a tag whose name is an HTML element and whose attributes are name=value pairs,
# so that "battery < 2 hours, screen > 5 inches" or "a<b and c>d" keep their words
_ELEMENTS = ("a abbr address article aside b bdi bdo blockquote body br button caption center cite code col "
             "dd del details dfn div dl dt em embed figcaption figure font footer form h1 h2 h3 h4 h5 h6 head "
             "header hr html i iframe img input ins kbd label li link main mark meta nav noscript ol option p pre "
             "q s samp script section select small source span strike strong style sub summary sup table tbody td "
             "textarea tfoot th thead time title tr tt u ul var video wbr").split()
_ATTRIBUTE = r"""\s+[A-Za-z_:][-\w:.]*\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'=<>`]+)"""
_TAG = re.compile(rf"<!--.*?-->|</?(?:{'|'.join(_ELEMENTS)})(?:{_ATTRIBUTE})*\s*/?>", re.IGNORECASE | re.DOTALL)
# named or numeric character references, with their semicolon ("AT&T" and "&nothing" are left alone)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# zero-width and BOM characters that survive NFC and make equal-looking texts differ
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


def _fixpoint(step, text: str, rounds: int = 8) -> str:
    """Apply `step` until the text stops changing, so that cleaning twice equals cleaning once.

    One pass can expose new work (an unescaped `&lt;b&gt;` is a tag; a removed zero-width space lets
    two characters compose); real texts settle after one or two passes.
    """
    for _ in range(rounds):
        new = step(text)
        if new == text:
            break
        text = new
    return text


def _strip_html(text: str) -> str:
    while True:  # each change shortens the text, so this ends
        new = _ENTITY.sub(lambda m: html.unescape(m.group(0)), _TAG.sub(" ", text))
        if new == text:
            return text
        text = new


def clean_text(text: str, unicode_form: str = "NFC", strip_html: bool = True, lowercase: bool = False) -> str:
    """Normalise unicode, drop HTML tags and control characters, collapse whitespace (idempotent)."""
    return _fixpoint(lambda t: _clean_once(t, unicode_form, strip_html, lowercase), text)


@functools.cache
def _controls() -> re.Pattern:
    """Control and format characters (Cc/Cf) other than whitespace, as ranges of this Python's Unicode tables;
    cleaning turns them into spaces. Built once (a quarter second), then one regex pass per text."""
    codes = [c for c in range(sys.maxunicode + 1)
             if unicodedata.category(chr(c)) in ("Cc", "Cf") and not chr(c).isspace()]
    ranges, first = [], codes[0]
    for prev, code in zip(codes, codes[1:] + [None]):
        if code != prev + 1:
            ranges.append(re.escape(chr(first)) + ("" if first == prev else "-" + re.escape(chr(prev))))
            first = code
    return re.compile("[" + "".join(ranges) + "]")


def _clean_once(text: str, unicode_form: str, strip_html: bool, lowercase: bool) -> str:
    text = unicodedata.normalize(unicode_form, text)
    if strip_html:
        text = _strip_html(text)
    text = _controls().sub(" ", _drop_invisible(text))
    text = " ".join(text.split())  # collapse and strip whitespace (str.split knows Unicode spaces)
    return text.lower() if lowercase else text


def normalise_key(text: str) -> str:
    """The identity of a text for dedup and leak checks: case-, width- and spacing-insensitive (idempotent)."""
    return _fixpoint(_key_once, text)


def _key_once(text: str) -> str:
    key = _drop_invisible(unicodedata.normalize("NFKC", text)).casefold()
    return _trim_non_word(" ".join(key.split()))


def _drop_invisible(text: str) -> str:
    return text if text.isascii() else text.translate(_INVISIBLE)  # all of them are non-ASCII; the check is cheap


def _trim_non_word(key: str) -> str:
    """Drop leading and trailing characters that are not letters or digits in any script (regex [\\W_])."""
    start, end = 0, len(key)
    while start < end and not key[start].isalnum():
        start += 1
    while end > start and not key[end - 1].isalnum():
        end -= 1
    return key[start:end]


def is_junk(text: str, min_chars: int) -> bool:
    """Too short, or no letter/digit in any script (e.g. only punctuation or emoji)."""
    return len(text) < min_chars or not any(map(str.isalnum, text))
