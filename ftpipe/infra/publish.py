"""A stage's outputs, published as a set: all of them appear, or none changes.

Each output is written to a temporary sibling (`out.dir(dest)`, `out.file(dest)`); only when the stage's block
ends without error are they moved into place, one rename each. Before the first rename, the list of moves is
written to a journal, so a stage killed halfway through them is completed by the next stage that starts
(`finish_interrupted`, called by the stage runner): either every output is the new one or, when the block
failed, every output is still the previous one. A failure leaves no temporary behind.

    with publish() as out:
        frame.to_parquet(out.dir("data/clean") / "train.parquet")
        write_json(out.file("metrics/clean.json"), report)
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ftpipe.infra.io import remove_stale_temps

JOURNAL = Path(".ftpipe-publish.json")  # in the workspace root, where stages run


class Outputs:
    """The temporary copies of one stage's outputs, and where each goes."""

    def __init__(self) -> None:
        self.moves: list[tuple[Path, Path]] = []  # (temporary, destination)
        self.holders: list[Path] = []             # the temporary folders made for them

    def dir(self, dest: str | Path) -> Path:
        """An empty temporary folder that becomes `dest` (replacing it whole)."""
        return self._temp(Path(dest), is_dir=True)

    def file(self, dest: str | Path) -> Path:
        """A path to write that becomes the file `dest`."""
        return self._temp(Path(dest), is_dir=False)

    def _temp(self, dest: Path, is_dir: bool) -> Path:
        if any(d == dest for _, d in self.moves):
            raise ValueError(f"{dest} is already an output of this stage")
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(dest)
        holder = Path(tempfile.mkdtemp(prefix=f".tmp-{dest.name}-{os.getpid()}-", dir=dest.parent))
        self.holders.append(holder)
        temp = holder if is_dir else holder / dest.name
        self.moves.append((temp, dest))
        return temp

    def commit(self) -> None:
        """Journal the moves, then make them; the journal goes when all are done."""
        for temp, dest in self.moves:
            if not temp.exists():
                raise FileNotFoundError(f"{dest}: the stage declared it as an output but wrote nothing")
        write_journal(self.moves)
        finish_interrupted()

    def discard(self) -> None:
        """Remove what is left of the temporary folders (all of them after a failure; emptied ones after a commit)."""
        for holder in self.holders:
            shutil.rmtree(holder, ignore_errors=True)


@contextmanager
def publish() -> Iterator[Outputs]:
    """Collect a stage's outputs; publish them together when the block succeeds, else keep the old ones."""
    outputs = Outputs()
    try:
        yield outputs
        outputs.commit()
    finally:
        outputs.discard()  # after a commit only empty temporary holders are left to remove


def write_journal(moves: list[tuple[Path, Path]]) -> None:
    tmp = JOURNAL.with_name(JOURNAL.name + ".tmp")
    tmp.write_text(json.dumps([[str(t), str(d)] for t, d in moves]))
    with open(tmp) as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, JOURNAL)  # the journal exists whole, or not at all


def finish_interrupted() -> None:
    """Make every move the journal lists that is not made yet, then remove the journal.

    A temporary that still exists always holds the new output (it is only ever renamed onto its destination,
    after the previous destination was moved aside), so moving it again is safe and never brings back an
    old output.
    """
    if not JOURNAL.is_file():
        return
    for temp, dest in (map(Path, pair) for pair in json.loads(JOURNAL.read_text())):
        if not temp.exists():
            continue  # moved already
        if dest.exists():
            aside = dest.with_name(f".old-{dest.name}-{os.getpid()}")
            shutil.rmtree(aside, ignore_errors=True) if aside.is_dir() else aside.unlink(missing_ok=True)
            os.replace(dest, aside)
            os.replace(temp, dest)
            shutil.rmtree(aside, ignore_errors=True) if aside.is_dir() else aside.unlink(missing_ok=True)
        else:
            os.replace(temp, dest)
    JOURNAL.unlink()
