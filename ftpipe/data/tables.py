"""Read a user's labelled table (CSV, JSONL or Parquet) with errors that name the file and field."""
from __future__ import annotations

import bz2
import csv
import difflib
import gzip
import json
import lzma
from pathlib import Path

import pandas as pd

from ftpipe.infra.errors import PipelineError

FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
COMPRESSION_SUFFIXES = {".bz2", ".gz", ".xz", ".zip", ".zst"}
OPENERS = {".bz2": bz2.open, ".gz": gzip.open, ".xz": lzma.open}
SEPARATORS = ",;\t|"


def detect_format(path: Path, declared: str = "auto") -> str:
    if declared != "auto":
        if declared not in set(FORMATS.values()):
            raise PipelineError(f"data.format: unknown format '{declared}' (use csv, jsonl, parquet or auto)")
        return declared
    suffixes = [s for s in path.suffixes if s.lower() not in COMPRESSION_SUFFIXES]
    fmt = FORMATS.get(suffixes[-1].lower()) if suffixes else None
    if fmt is None:
        raise PipelineError(f"{path}: cannot tell the format from the name; set data.format to csv, jsonl or parquet")
    return fmt


def read_table(path: Path, fmt: str = "auto", sep: str | None = None, encoding: str = "utf-8") -> pd.DataFrame:
    """Load a table; every failure becomes a one-line PipelineError naming the file."""
    if not path.is_file():
        raise PipelineError(f"{path}: file not found (set data.path, or put the file under data/raw/)")
    fmt = detect_format(path, fmt)
    if path.stat().st_size == 0:
        raise PipelineError(f"{path}: the file is empty")
    try:
        if fmt == "csv":
            # no data.csv_sep: sniff it; utf-8-sig also strips a BOM
            enc = "utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding
            df = pd.read_csv(path, sep=sep or sniff_separator(path, enc), encoding=enc, dtype=str,
                             keep_default_na=False, na_values=[""], on_bad_lines="error")
        elif fmt == "jsonl":
            df = pd.read_json(path, lines=True, dtype=False, encoding=encoding)
        else:
            df = pd.read_parquet(path)
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{path}: not valid {encoding} at byte {exc.start}; re-encode the file as UTF-8 "
                            f"or set data.encoding") from None
    except pd.errors.EmptyDataError:
        raise PipelineError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, csv.Error, ValueError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        first_line = first_line.removeprefix("Error tokenizing data. C error: ").rstrip(".")
        if fmt == "jsonl":
            first_line = _bad_json_line(path, encoding) or first_line
        hint = {"csv": "; quote fields that contain the separator or newlines, or set data.csv_sep",
                "parquet": "; the file is corrupt or not Parquet: re-export it"}.get(fmt, "")
        raise PipelineError(f"{path}: cannot parse as {fmt}: {first_line}{hint}") from None
    if df.empty:
        raise PipelineError(f"{path}: no rows")
    return df


def sniff_separator(path: Path, encoding: str) -> str:
    """`,` `;` tab or `|`, judged from the first lines; `,` when undecidable (e.g. a single column)."""
    if path.suffix.lower() in COMPRESSION_SUFFIXES and path.suffix.lower() not in OPENERS:
        return ","
    opener = OPENERS.get(path.suffix.lower(), open)
    with opener(path, "rt", encoding=encoding, newline="") as handle:
        sample = "".join(line for _, line in zip(range(50), handle))
    try:
        return csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        counts = {sep: header.count(sep) for sep in SEPARATORS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _bad_json_line(path: Path, encoding: str) -> str | None:
    """'line N is not a JSON object' for the first bad line of a JSONL file (None if all parse)."""
    opener = OPENERS.get(path.suffix.lower(), open)
    with opener(path, "rt", encoding=encoding) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                if not isinstance(json.loads(line), dict):
                    raise ValueError
            except ValueError:
                return f"line {number} is not a JSON object ({line.strip()[:40]!r})"
    return None


def require_columns(df: pd.DataFrame, path: Path, **columns: str) -> None:
    """`require_columns(df, path, text_column='text')`: say which key names a missing column."""
    for key, column in columns.items():
        if column not in df.columns:
            close = difflib.get_close_matches(str(column), [str(c) for c in df.columns], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; columns are {list(df.columns)[:10]}"
            raise PipelineError(f"{path}: no column '{column}' (data.{key}){hint}")


def read_split(path: Path, columns: tuple[str, ...] = ("text", "label")) -> pd.DataFrame:
    """A split an earlier stage wrote (Parquet), checked for the columns the caller relies on."""
    if not path.is_file():
        raise PipelineError(f"{path}: not found; run the stages before this one first (dvc repro)")
    frame = pd.read_parquet(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PipelineError(f"{path}: column(s) {missing} missing (have {list(frame.columns)})")
    bad = frame.index[~frame["text"].map(lambda t: isinstance(t, str))] if "text" in columns else []
    if len(bad):
        raise PipelineError(f"{path}: row {bad[0]}: 'text' is not a string")
    return frame
