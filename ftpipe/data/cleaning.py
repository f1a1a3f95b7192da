"""Cleaning rules of the clean stage: read the user's files, normalise and deduplicate rows, split without leaks.

Every dropped row is counted by reason in `drops`, so metrics/clean.json accounts for each input row.
"""
from __future__ import annotations

import math
from collections import Counter

import pandas as pd
from omegaconf import DictConfig
from sklearn.model_selection import train_test_split

from ftpipe.config.params import resolve_resource
from ftpipe.data.splitting import stratified_indices
from ftpipe.data.tables import read_table, require_columns
from ftpipe.data.text import clean_text, is_junk, normalise_key
from ftpipe.infra.errors import PipelineError
from ftpipe.infra.logs import get_logger

log = get_logger("clean")


def load_source(spec: str, data: DictConfig, field: str) -> pd.DataFrame:
    """Read one file into columns text, label (raw values), source_row, label-less rows dropped later."""
    path = resolve_resource(spec, f"data.{field}")
    df = read_table(path, data.format, data.get("csv_sep"), data.encoding)
    require_columns(df, path, text_column=data.text_column, label_column=data.label_column)
    labels = df[data.label_column]
    kinds = {type(v).__name__ for v in labels.dropna()}
    if len(kinds - {"str"}) and "str" in kinds:
        raise PipelineError(f"{path}: column '{data.label_column}' mixes label types {sorted(kinds)}; use one type")
    return pd.DataFrame({"text": df[data.text_column], "label": labels,
                         "source_row": range(1, len(df) + 1), "file": str(path)})


def clean_frame(df: pd.DataFrame, data: DictConfig, drops: Counter) -> pd.DataFrame:
    """Normalise texts and drop unlabelled, junk, duplicate and contradictory rows, counting each reason."""
    def drop(mask: pd.Series, reason: str) -> pd.DataFrame:
        mask = mask.astype(bool)  # an empty .map() result is object-typed and would select columns
        drops[reason] += int(mask.sum())
        return df.loc[~mask]

    df = drop(df["label"].isna() | df["label"].astype(str).str.strip().eq(""), "missing_label")
    df = drop(df["label"].astype(str).isin([str(x) for x in data.drop_labels]), "excluded_label")
    texts = df["text"].where(df["text"].notna(), "").astype(str)
    df = df.assign(text=[clean_text(t, data.unicode_form, data.strip_html, data.lowercase) for t in texts])
    df = drop(df["text"].map(lambda t: is_junk(t, data.min_chars)), "empty_or_junk")
    df = drop(df["text"].map(len) > data.max_chars, "too_long")
    df = drop(df.duplicated(["text", "label"]), "duplicate_exact")
    df = df.assign(key=df["text"].map(normalise_key))
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


def build_splits(data: DictConfig, seed: int, drops: Counter) -> dict[str, pd.DataFrame]:
    """The cleaned train/validation/test frames: given files, or a seeded stratified split of data.path."""
    pool = clean_frame(load_source(data.path, data, "path"), data, drops)
    if not len(pool):
        raise PipelineError(f"{data.path}: every row was dropped by cleaning ({dict(+drops)}); check "
                            f"data.text_column, data.label_column, data.drop_labels and data.min_chars")
    given = {s: data.get(f"{s}_path") for s in ("validation", "test")}
    if all(given.values()):
        splits = {"train": pool, **{s: clean_frame(load_source(p, data, f"{s}_path"), data, drops)
                                    for s, p in given.items()}}
    elif any(given.values()):
        raise PipelineError("data.validation_path and data.test_path: give both or neither")
    else:
        if data.max_rows and len(pool) > data.max_rows:
            try:
                pool, _ = train_test_split(pool, train_size=data.max_rows, stratify=pool["label"],
                                           random_state=seed)
            except ValueError as exc:  # a class too small to subsample in proportion
                raise PipelineError(f"data.max_rows: cannot take a stratified sample of {data.max_rows} rows "
                                    f"({exc}); raise data.max_rows or set it to null") from None
        splits = split(pool, data, seed)
    for name, part in splits.items():
        if not len(part):
            raise PipelineError(f"{data.get(f'{name}_path') or data.path}: no {name} rows left after cleaning "
                                f"({dict(+drops)})")
    check_leaks(splits, data.on_split_overlap)
    unseen = set(pd.concat([splits["validation"]["label"], splits["test"]["label"]]).astype(str)) \
        - set(splits["train"]["label"].astype(str))
    if unseen:
        raise PipelineError(f"data.validation_path/data.test_path: label '{sorted(unseen)[0]}' never occurs in the "
                            f"training file {data.path}; add training rows for it or drop it with data.drop_labels")
    return splits
