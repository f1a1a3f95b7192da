"""Read a user's labelled table (CSV, JSONL or Parquet, compressed or not) with errors that name the file and field."""
from __future__ import annotations

import csv
import difflib
import io
import json
from pathlib import Path

import pandas as pd

from ftpipe.data.files import Source, bom_encoding, open_source
from ftpipe.infra.errors import PipelineError

FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
COMPRESSION_SUFFIXES = {".bz2", ".gz", ".xz", ".zip", ".zst"}
SEPARATORS = ",;\t|"


def detect_format(source: Source, declared: str = "auto", field: str = "data.path") -> str:
    """The declared format, else Parquet by its magic bytes, else the name's suffix, else JSON lines or CSV by
    the first character."""
    if declared != "auto":
        if declared == "parquet" and not source.parquet:
            raise PipelineError(f"{source.path}: data.format is parquet but the file is not Parquet (no PAR1 "
                                f"magic); set data.format to csv, jsonl or auto")
        return declared
    if source.parquet:
        return "parquet"
    suffixes = [s.lower() for s in source.path.suffixes if s.lower() not in COMPRESSION_SUFFIXES]
    by_name = FORMATS.get(suffixes[-1]) if suffixes else None
    if by_name == "parquet":
        raise PipelineError(f"{source.path}: named Parquet but its content is not (no PAR1 magic); re-export it, "
                            f"or rename it and set data.format")
    if by_name:
        return by_name
    start = source.head.lstrip()[:1]
    if start in (b"{", b"["):
        raise PipelineError(f"{source.path}: cannot tell the format from the name; it looks like JSON: set "
                            f"data.format=jsonl (one JSON object per line)")
    raise PipelineError(f"{source.path}: cannot tell the format from the name; set data.format to csv, jsonl or "
                        f"parquet")


def read_source(path: Path, fmt: str = "auto", sep: str | None = None, encoding: str = "utf-8",
                field: str = "data.path") -> tuple[pd.DataFrame, Source]:
    """Load a table, judging compression and container by content; every failure is one line naming the file."""
    source = open_source(path, field)
    fmt = detect_format(source, fmt, field)
    compression = source.compression
    try:
        if fmt == "csv":
            # no data.csv_sep: sniff it; utf-8-sig also strips a BOM
            enc = "utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding
            df = pd.read_csv(path, sep=sep or sniff_separator(source, enc), encoding=enc, dtype=str,
                             keep_default_na=False, na_values=[""], on_bad_lines="error", compression=compression)
        elif fmt == "jsonl":
            df = pd.read_json(path, lines=True, dtype=False, encoding=encoding, compression=compression)
        else:
            with source.open_binary() as stream:
                df = pd.read_parquet(io.BytesIO(stream.read()) if compression else path)
    except UnicodeDecodeError as exc:
        bom = bom_encoding(source.head)
        hint = (f"the file is {bom.upper()} (it starts with a byte-order mark): set data.encoding={bom} or re-save "
                f"it as UTF-8") if bom else "re-encode the file as UTF-8 or set data.encoding"
        raise PipelineError(f"{path}: not valid {encoding} at byte {exc.start}; {hint}") from None
    except pd.errors.EmptyDataError:
        raise PipelineError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, csv.Error, ValueError, OSError, ImportError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        first_line = first_line.removeprefix("Error tokenizing data. C error: ").rstrip(".")
        if fmt == "jsonl":
            first_line = _bad_json_line(source, encoding) or first_line
        hint = {"csv": "; quote fields that contain the separator or newlines, or set data.csv_sep",
                "parquet": "; the file is corrupt or not Parquet: re-export it"}.get(fmt, "")
        raise PipelineError(f"{path}: cannot parse as {fmt}: {first_line}{hint}") from None
    if df.empty:
        raise PipelineError(f"{path}: no rows")
    return df, source


def read_table(path: Path, fmt: str = "auto", sep: str | None = None, encoding: str = "utf-8") -> pd.DataFrame:
    """`read_source` without the source description."""
    return read_source(path, fmt, sep, encoding)[0]


def _text(source: Source, encoding: str):
    return io.TextIOWrapper(source.open_binary(), encoding=encoding, newline="", errors="replace")


def sniff_separator(source: Source, encoding: str) -> str:
    """`,` `;` tab or `|`, judged from the first lines; `,` when undecidable (e.g. a single column)."""
    with _text(source, encoding) as handle:
        sample = "".join(line for _, line in zip(range(50), handle))
    try:
        return csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        counts = {sep: header.count(sep) for sep in SEPARATORS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _bad_json_line(source: Source, encoding: str) -> str | None:
    """'line N is not a JSON object' for the first bad line of a JSONL file (None if all parse)."""
    with _text(source, encoding) as handle:
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
