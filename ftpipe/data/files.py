"""What a data path really is, judged by the file system and the file's first bytes, not by its name.

`open_source` reports a folder, a broken or looping link, an unreadable file or an empty one as what it is,
recognises gzip, bz2, xz, zstd and zip by their magic bytes, refuses a zip of several files or an Excel
workbook with what to do instead, and tells Parquet from text. `check_encoding` catches the usual mojibake:
a UTF-8 file declared as another encoding, and UTF-8 text that was already garbled before it reached us.
"""
from __future__ import annotations

import codecs
import errno
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ftpipe.infra.errors import PipelineError

MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
         (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"))
PARQUET, OLE = b"PAR1", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"))
DATA_SUFFIXES = {".csv", ".tsv", ".jsonl", ".json", ".parquet", ".pq", ".txt"}
# the marks UTF-8 leaves when read as cp1252 or latin-1: Ã or Â before a continuation character, â€ for quotes
CONTINUATION = "\u0080-\u00bf\u2018-\u203a\u0152\u0153\u0160\u0161\u017d\u017e\u0178"  # 0x80-0xBF in cp1252
MOJIBAKE = re.compile(f"[\u00c2\u00c3][{CONTINUATION}]|\u00e2\u20ac")


@dataclass(frozen=True)
class Source:
    """A readable data file: how it is compressed (by content), and what it holds (parquet or text)."""

    path: Path
    compression: str | None   # gzip | bz2 | xz | zstd | zip | None
    parquet: bool             # the (decompressed) content starts with Parquet's magic
    head: bytes               # the first bytes of the decompressed content

    def open_binary(self):
        """The decompressed content as a binary stream."""
        if self.compression == "zip":
            archive = zipfile.ZipFile(self.path)
            return archive.open(_members(archive)[0])
        openers = {"gzip": "gzip", "bz2": "bz2", "xz": "lzma"}
        if self.compression in openers:
            module = __import__(openers[self.compression])
            return module.open(self.path, "rb")
        if self.compression == "zstd":
            import zstandard  # only when a zstd file is given; pandas needs it too

            return zstandard.open(self.path, "rb")
        return open(self.path, "rb")


def open_source(path: Path, field: str) -> Source:
    """Inspect `path` (named by config key `field`); one-line errors for everything that is not a data file."""
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PipelineError(f"{path}: a loop of symbolic links; point {field} at the real file") from None
        if path.is_symlink():
            raise PipelineError(f"{path}: a symbolic link to {os.readlink(path)}, which does not exist; fix the link "
                                f"or point {field} at the real file") from None
        if exc.errno == errno.EACCES:
            raise PipelineError(f"{path}: a folder on the way cannot be entered (permission denied); fix the "
                                f"permissions or move the file") from None
        raise PipelineError(f"{path}: file not found (set {field}, or put the file under data/raw/)") from None
    if stat.S_ISDIR(info.st_mode):
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in DATA_SUFFIXES
                        or any(p.name.lower().endswith(s + c) for s in DATA_SUFFIXES for c in (".gz", ".bz2", ".xz")))
        listing = f" (it holds {', '.join(inside[:5])}{', ...' if len(inside) > 5 else ''})" if inside else ""
        raise PipelineError(f"{path}: a folder, not a file{listing}; point {field} at one file in it")
    if not stat.S_ISREG(info.st_mode):
        raise PipelineError(f"{path}: not a regular file (a device, pipe or socket); point {field} at a file")
    if info.st_size == 0:
        raise PipelineError(f"{path}: the file is empty")
    try:
        with open(path, "rb") as handle:
            first = handle.read(8)
    except PermissionError:
        raise PipelineError(f"{path}: cannot be read (permission denied); make it readable (chmod +r) or copy "
                            f"it somewhere readable") from None
    compression = next((name for magic, name in MAGIC if first.startswith(magic)), None)
    if first.startswith(OLE):
        raise _excel(path, field, "an Excel 97-2003 workbook (.xls)")
    if compression == "zip":
        _check_zip(path, field)
    source = Source(path, compression, False, b"")
    try:
        with source.open_binary() as stream:
            head = stream.read(4096)
    except Exception as exc:  # a truncated or corrupt archive comes as many exception types
        raise PipelineError(f"{path}: looks {compression}-compressed but cannot be decompressed "
                            f"({type(exc).__name__}: {str(exc)[:80]}); the file is damaged: copy it again") from None
    if not head:
        raise PipelineError(f"{path}: the file is empty once decompressed")
    return Source(path, compression, head.startswith(PARQUET), head)


def _members(archive: zipfile.ZipFile) -> list[str]:
    return [n for n in archive.namelist() if not n.endswith("/") and not n.startswith("__MACOSX/")]


def _excel(path: Path, field: str, what: str) -> PipelineError:
    return PipelineError(f"{path}: {what}, not a table this pipeline reads; save the sheet as CSV (UTF-8) and "
                         f"point {field} at that file")


def _check_zip(path: Path, field: str) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = _members(archive)
    except zipfile.BadZipFile as exc:
        raise PipelineError(f"{path}: a damaged zip archive ({exc}); copy it again") from None
    if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
        raise _excel(path, field, "an Excel workbook (.xlsx)")
    if len(names) != 1:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise PipelineError(f"{path}: a zip archive of {len(names)} files ({shown or 'none'}); unzip it and point "
                            f"{field} at the one file to read")


def bom_encoding(head: bytes) -> str | None:
    """utf-16 or utf-32 when the content starts with their byte-order mark."""
    return next((name for bom, name in BOMS if head.startswith(bom)), None)


def check_encoding(source: Source, declared: str, texts: list[str], field: str) -> int:
    """Refuse the usual mojibake; return how many texts still carry its marks (counted in metrics/clean.json).

    A file that is valid UTF-8 with non-ASCII characters, declared as another encoding, would be garbled
    ('café' read as 'cafÃ©'). UTF-8 text whose non-ASCII rows mostly carry mojibake marks was garbled before
    it reached us; a few such rows are only counted.
    """
    utf8 = declared.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")
    if not utf8 and not source.parquet and _is_utf8_with_non_ascii(source):
        raise PipelineError(f"{source.path}: the file is UTF-8 but data.encoding is {declared!r}, which would "
                            f"garble its non-ASCII text (e.g. 'café' as 'cafÃ©'); set data.encoding=utf-8")
    non_ascii = [t for t in texts if not t.isascii()]
    marked = [t for t in non_ascii if MOJIBAKE.search(t)]
    if len(marked) >= 3 and len(marked) >= 0.2 * len(non_ascii):
        example = MOJIBAKE.search(marked[0]).group(0)
        raise PipelineError(f"{source.path}: {len(marked)} of {len(non_ascii)} texts with non-ASCII characters "
                            f"carry mojibake such as {example!r} (UTF-8 that was read as cp1252 or latin-1 before "
                            f"it was saved); repair the file (e.g. with the ftfy package) or re-export it as UTF-8")
    return len(marked)


def _is_utf8_with_non_ascii(source: Source) -> bool:
    utf8 = codecs.getincrementaldecoder("utf-8")()  # in chunks: a large file never sits in memory whole
    seen_non_ascii = False
    with source.open_binary() as stream:
        while chunk := stream.read(1 << 20):
            try:
                utf8.decode(chunk)
            except UnicodeDecodeError:
                return False
            seen_non_ascii = seen_non_ascii or not chunk.isascii()
    return seen_non_ascii
