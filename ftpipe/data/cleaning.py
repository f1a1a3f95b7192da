"""Cleaning rules of the clean stage: read the user's files, normalise and deduplicate rows, split without leaks.

Every dropped row is counted by reason in `drops`, so metrics/clean.json accounts for each input row.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from ftpipe.config.params import resolve_resource
from ftpipe.config.schema import MISSING_MARKERS
from ftpipe.data.files import check_encoding
from ftpipe.data.labels import LabelPolicy
from ftpipe.data.splitting import stratified_indices
from ftpipe.data.tables import read_source, require_columns
from ftpipe.data.text import clean_text, is_junk, normalise_key
from ftpipe.infra.errors import PipelineError
from ftpipe.infra.logs import get_logger

log = get_logger("clean")
CHUNK = 100_000  # rows cleaned at a time
DROP_REASONS = ("missing_label", "excluded_label", "text_not_string", "empty_or_junk", "too_long",
                "duplicate_exact", "duplicate_normalised", "conflicting_labels")


def load_source(spec: str, data: DictConfig, field: str, notes: Counter | None = None) -> pd.DataFrame:
    """Read one file into columns text, label (raw values), source_row and file; refuse what would garble."""
    path = resolve_resource(spec, f"data.{field}")
    df, source = read_source(path, data.format, data.get("csv_sep"), data.encoding, f"data.{field}")
    require_columns(df, path, text_column=data.text_column, label_column=data.label_column)
    texts = df[data.text_column]
    marked = check_encoding(source, data.encoding, [t for t in texts if isinstance(t, str)], f"data.{field}")
    if notes is not None:
        notes["texts_with_mojibake"] += marked
    return pd.DataFrame({"text": texts, "label": df[data.label_column],
                         "source_row": range(1, len(df) + 1), "file": str(path)})


def source_files(data: DictConfig) -> list[Path]:
    """The files clean reads (data.path, and the given splits): what data/clean's lineage records."""
    return [resolve_resource(data[k], f"data.{k}") for k in ("path", "validation_path", "test_path") if data.get(k)]


def label_policy(data: DictConfig) -> LabelPolicy:
    missing = data.get("missing_labels")
    return LabelPolicy(MISSING_MARKERS if missing is None else missing, data.get("label_map"), data.drop_labels)


@dataclass(frozen=True)
class RowRules:
    """The data.* settings each row is checked against, read once: OmegaConf lookups per row cost more than the
    cleaning itself."""
    text_column: str
    label_column: str
    unicode_form: str
    strip_html: bool
    lowercase: bool
    min_chars: int
    max_chars: int

    @classmethod
    def of(cls, data: DictConfig) -> RowRules:
        return cls(**{f: data[f] for f in cls.__dataclass_fields__})


def text_value(value: object, row: int, file: str, text_column: str) -> str | None:
    """A text cell as a string: missing is empty; a number or boolean is None (dropped and counted by the
    caller); a list or mapping is refused, since no spelling of it is the text."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (dict, list, tuple)):
        raise PipelineError(f"{file}: row {row}: data.text_column '{text_column}' holds a "
                            f"{'mapping' if isinstance(value, dict) else 'list'} ({str(value)[:40]}), not text; "
                            f"flatten the file or point data.text_column at a text column")
    return None


def _clean_row(label: str | None, value: object, row: int, file: str, rules: RowRules, labels: LabelPolicy
               ) -> tuple[str | None, str | None]:
    """(the reason to drop the row, None) or (None, its cleaned text): the per-row rules, in order."""
    if label is None:
        return "missing_label", None
    if labels.is_dropped(label):
        return "excluded_label", None
    text = text_value(value, row, file, rules.text_column)
    if text is None:
        return "text_not_string", None
    text = clean_text(text, rules.unicode_form, rules.strip_html, rules.lowercase)
    if is_junk(text, rules.min_chars):
        return "empty_or_junk", None
    if len(text) > rules.max_chars:
        return "too_long", None
    return None, text


def _clean_chunk(df: pd.DataFrame, rules: RowRules, drops: Counter, labels: LabelPolicy) -> pd.DataFrame:
    """The kept rows of one chunk, cleaned, with their dedup key; each dropped row counted by reason."""
    label = labels.apply(df["label"], f"{df['file'].iloc[0]} (data.label_column '{rules.label_column}')").tolist()
    rows, files = df["source_row"].tolist(), df["file"].tolist()
    keep, cleaned = [], []
    for i, value in enumerate(df["text"].tolist()):
        reason, text = _clean_row(label[i], value, rows[i], files[i], rules, labels)
        if reason:
            drops[reason] += 1
        else:
            keep.append(i)
            cleaned.append(text)
    # Arrow-backed strings take a few bytes a character instead of a Python object each: 2M rows stay small
    return pd.DataFrame({"text": pd.array(cleaned, dtype="str"),
                         "label": pd.Series([label[i] for i in keep], dtype=object),
                         "source_row": [rows[i] for i in keep], "file": [files[i] for i in keep],
                         "key": pd.array([normalise_key(t) for t in cleaned], dtype="str")})


def clean_frame(df: pd.DataFrame, data: DictConfig, drops: Counter, labels: LabelPolicy | None = None
                ) -> pd.DataFrame:
    """Normalise texts and labels; drop unlabelled, junk, duplicate and contradictory rows, counting each reason.

    The per-row rules run in chunks, so a large file never holds all its texts as Python strings at once.
    """
    labels = labels or label_policy(data)
    drops.update(dict.fromkeys(DROP_REASONS, 0))  # every reason appears in metrics/clean.json, zero or not
    parts, rules = [], RowRules.of(data)
    with tqdm(total=len(df), desc="clean", unit="row", mininterval=2, disable=len(df) < CHUNK) as bar:
        for start in range(0, len(df), CHUNK):
            parts.append(_clean_chunk(df.iloc[start:start + CHUNK], rules, drops, labels))
            bar.update(min(CHUNK, len(df) - start))
    del df
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["text", "label", "source_row", "file", "key"])
    del parts
    if len(df) >= CHUNK:
        log.info("deduplicating %d rows", len(df))

    def drop(mask: pd.Series, reason: str) -> pd.DataFrame:
        drops[reason] += int(mask.sum())
        return df.loc[~mask.to_numpy(bool)]

    df = drop(df.duplicated(["text", "label"]), "duplicate_exact")
    df = drop(df.duplicated(["key", "label"]), "duplicate_normalised")
    return drop(df.groupby("key")["label"].transform("nunique") > 1, "conflicting_labels")


def split(df: pd.DataFrame, data: DictConfig, seed: int) -> dict[str, pd.DataFrame]:
    """Seeded split stratified by label (each class within one row of its share); every class in every split."""
    shares = {"train": 1 - data.split.validation - data.split.test, "validation": data.split.validation,
              "test": data.split.test}
    splits = {name: df.iloc[rows] for name, rows in stratified_indices(df["label"].tolist(), shares, seed).items()}
    counts = df["label"].astype(str).value_counts()
    for name, part in splits.items():
        missing = sorted(set(counts.index) - set(part["label"].astype(str)))
        if missing:
            need = math.ceil(round(1 / min(data.split.validation, data.split.test), 6))
            raise PipelineError(f"{data.path}: class '{missing[0]}' has {counts[missing[0]]} row(s), too few to "
                                f"reach the {name} split; give it at least {need} rows, raise data.split shares, "
                                f"or exclude it with data.drop_labels")
    return splits


def check_leaks(splits: dict[str, pd.DataFrame], policy: str) -> None:
    """No normalised text may sit in two splits (user-given splits can overlap)."""
    for other in ("validation", "test"):
        shared = splits["train"]["key"].isin(set(splits[other]["key"]))
        if shared.any() and policy == "drop_from_train":
            log.warning("dropping %d train rows that also appear in %s", shared.sum(), other)
            splits["train"] = splits["train"][~shared]
        elif shared.any():
            row = splits["train"][shared].iloc[0]
            raise PipelineError(f"{row.file}: row {row.source_row} of train also appears in the {other} split "
                                f"({int(shared.sum())} such rows); set data.on_split_overlap=drop_from_train")
    if splits["validation"]["key"].isin(set(splits["test"]["key"])).any():
        raise PipelineError("validation and test splits share texts; remove them from one file")


def label_names(labels: pd.Series, source: str = "data") -> list[str]:
    """Class names in a stable order: numeric order for integer labels, else alphabetical."""
    names = sorted({str(v) for v in labels})
    if len(names) < 2:
        raise PipelineError(f"{source}: only one class ({names[0] if names else 'none'}) in data.label_column "
                            "after cleaning; a classifier needs at least two")
    return sorted(names, key=int) if all(n.lstrip("-").isdigit() for n in names) else names


def stratified_cut(frame: pd.DataFrame, rows: int | None, seed: int, key: str) -> pd.DataFrame:
    """At most `rows` rows, each label keeping its share (seeded)."""
    if not rows or len(frame) <= rows:
        return frame
    try:
        part, _ = train_test_split(frame, train_size=rows, stratify=frame["label"], random_state=seed)
    except ValueError as exc:  # a class too small to subsample in proportion
        raise PipelineError(f"{key}: cannot take a stratified sample of {rows} rows ({exc}); raise {key} or set it "
                            "to null") from None
    return part


def build_splits(data: DictConfig, seed: int, drops: Counter, notes: Counter
                 ) -> tuple[dict[str, pd.DataFrame], LabelPolicy]:
    """The cleaned train/validation/test frames (given files, or a seeded stratified split of data.path), and the
    label policy that read them (its counts go into metrics/clean.json)."""
    labels = label_policy(data)
    pool = clean_frame(load_source(data.path, data, "path", notes), data, drops, labels)
    given = {s: data.get(f"{s}_path") for s in ("validation", "test") if data.get(f"{s}_path")}
    splits = {"train": pool, **{s: clean_frame(load_source(p, data, f"{s}_path", notes), data, drops, labels)
                                for s, p in given.items()}}
    labels.check(", ".join(str(p) for p in [data.path, *given.values()]))  # every file read: one policy for all
    if not len(pool):
        raise PipelineError(f"{data.path}: every row was dropped by cleaning ({dict(+drops)}); check "
                            f"data.text_column, data.label_column, data.drop_labels and data.min_chars")
    if not given:
        pool = stratified_cut(pool, data.max_rows, seed, "data.max_rows")
        splits = split(pool, data, seed)
    for name, part in splits.items():
        if not len(part):
            raise PipelineError(f"{data.get(f'{name}_path') or data.path}: no {name} rows left after cleaning "
                                f"({dict(+drops)})")
    check_leaks(splits, data.on_split_overlap)
    kept = len(splits["train"])  # a low-data run: fewer training rows, the same validation and test
    splits["train"] = stratified_cut(splits["train"], data.get("max_train_rows"), seed, "data.max_train_rows")
    notes["train_rows_cut"] = kept - len(splits["train"])
    unseen = set(pd.concat([splits["validation"]["label"], splits["test"]["label"]]).astype(str)) \
        - set(splits["train"]["label"].astype(str))
    if unseen:
        raise PipelineError(f"data.validation_path/data.test_path: label '{sorted(unseen)[0]}' never occurs in the "
                            f"training file {data.path}; add training rows for it or drop it with data.drop_labels")
    return splits, labels
