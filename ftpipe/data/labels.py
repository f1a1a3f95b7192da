"""Label identity: one class per label however it is spelled, or a one-line refusal (docs/errors.md, "Labels").

The policy, applied to every source file before anything else looks at a label:
1. Missing: an empty or blank value, a null, or one of `data.missing_labels` (by default the markers pandas
   reads as missing: NA, N/A, NaN, null, None, ...) is a missing label: the row is dropped and counted.
2. Spelling: surrounding whitespace is stripped, unicode is NFC-normalised, and a number is written one way
   (`1`, `1.0`, `01` and `+1` are all `1`; `0.50` is `0.5`); JSON true/false are `true`/`false`. Rows whose
   label changed this way are counted (`labels_normalised`), never silently.
3. `data.label_map` then renames labels (`{Pos: pos, positive: pos}` merges them).
4. Labels that still differ only in case are refused, with the variants and their counts, and a label_map
   that would merge them; so are `data.label_map` keys and `data.drop_labels` that never occur.
"""
from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ftpipe.infra.errors import PipelineError


def canonical(value: Any) -> str | None:
    """The one spelling of a label value, or None when the value is missing (before `data.missing_labels`)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(float(value)) if not isinstance(value, int) else str(value)
    if not isinstance(value, str):
        raise TypeError(type(value).__name__)
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return _number(number) if math.isfinite(number) else text


def _number(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return str(int(x)) if x.is_integer() else repr(x)


def label_key(value: Any) -> str:
    """How a config value (a `drop_labels` entry, a `label_map` key) names a label: its canonical spelling."""
    key = canonical(value)
    return "" if key is None else key


class LabelPolicy:
    """Applies the policy to each source's label column and keeps the counts for metrics/clean.json."""

    def __init__(self, missing: Iterable[str], label_map: dict[Any, Any] | None, drop: Iterable[Any]):
        self.missing = {str(m).strip() for m in missing}
        self.label_map = {label_key(k): label_key(v) for k, v in (label_map or {}).items()}
        self.drop = {label_key(d): d for d in drop}
        self.seen: Counter[str] = Counter()             # canonical labels over every file, before the map
        self.missing_seen: Counter[str] = Counter()     # which markers were taken as missing
        self.normalised = 0                             # rows whose label was respelled

    def apply(self, labels: pd.Series, where: str) -> pd.Series:
        """Canonical labels (None where missing) for one source; `where` names the file and column."""
        out = []
        for row, value in enumerate(labels.tolist(), 1):
            try:
                key = canonical(value)
            except TypeError as exc:
                raise PipelineError(f"{where}: row {row}: the label is a {exc}, not a value ({str(value)[:40]!r}); "
                                    f"point data.label_column at a column of plain labels") from None
            if key is None or key in self.missing:
                self.missing_seen[key or ""] += 1
                out.append(None)
                continue
            self.seen[key] += 1
            self.normalised += key != str(value)
            key = self.label_map.get(key, key)
            out.append(key)
        return pd.Series(out, index=labels.index, dtype=object)

    def check(self, source: str) -> None:
        """After every file: refuse case variants, and map keys or drop labels that never occur."""
        unused = sorted(set(self.label_map) - set(self.seen))
        if unused:
            raise PipelineError(f"data.label_map: {unused[0]!r} never occurs in {source} (labels: "
                                f"{_listing(self.seen)}); fix the key or remove it")
        mapped = Counter()
        for key, n in self.seen.items():
            mapped[self.label_map.get(key, key)] += n
        never = sorted(str(original) for key, original in self.drop.items() if key not in mapped)
        if never:
            raise PipelineError(f"data.drop_labels: {never[0]!r} never occurs in {source} (labels: "
                                f"{_listing(mapped)}); fix it or remove it, so that what is dropped is what you "
                                f"meant")
        by_case: dict[str, list[str]] = {}
        for label in mapped:
            by_case.setdefault(label.casefold(), []).append(label)
        for variants in by_case.values():
            if len(variants) > 1:
                variants.sort(key=lambda v: -mapped[v])
                counts = ", ".join(f"'{v}' ({mapped[v]} rows)" for v in variants)
                merge = ", ".join(f"'{v}': '{variants[0]}'" for v in variants[1:])
                raise PipelineError(f"{source}: labels {counts} differ only in case; merge them with "
                                    f"data.label_map: {{{merge}}} or fix the file")

    def is_dropped(self, key: str | None) -> bool:
        return key is not None and key in self.drop

    def report(self) -> dict[str, Any]:
        return {"labels_normalised": self.normalised,
                "missing_label_markers": {k or "(empty)": v for k, v in sorted(self.missing_seen.items())}}


def _listing(counts: Counter, limit: int = 8) -> str:
    shown = [f"{k!r}" for k, _ in counts.most_common(limit)]
    return ", ".join(shown) + (", ..." if len(counts) > limit else "")
