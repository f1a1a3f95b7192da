"""Which inputs each stage output was made from, so that no stage mixes the outputs of different runs.

A stage that writes a folder other stages read (data/clean, data/augmented, data/tokenized, models/finetuned)
records in it, as `lineage.json`, a digest of every input it read. Before a stage reads such folders, `check`
follows these records back through the workspace: wherever a recorded input is no longer what the folder was
made from, it stops and names the stage to rerun. Example: clean ran again but augment did not; tokenize, run
by hand, would pair the new validation split with the old augmented train split, and refuses instead.
DVC runs stages in order and never meets this; a hand-run stage or an interrupted pipeline can.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ftpipe.infra.errors import PipelineError

LINEAGE = "lineage.json"


def digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files (names and bytes, lineage.json left out), as 16 hex digits."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and p.name != LINEAGE)
    for file in files:
        h.update(file.relative_to(path).as_posix().encode() if file != path else b"")
        with open(file, "rb") as handle:
            while chunk := handle.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()[:16]


def record(folder: Path, stage: str, inputs: list[Path]) -> None:
    """Write `folder/lineage.json`: the stage that made it, and each input's path and digest."""
    entries = {str(p): digest(p) for p in inputs}
    (folder / LINEAGE).write_text(json.dumps({"stage": stage, "inputs": entries}, indent=2) + "\n")


def check(inputs: list[Path]) -> None:
    """Refuse to go on when an input (or anything it was made from) is out of date with what it was made from."""
    seen: set[Path] = set()
    digests: dict[Path, str] = {}  # each input hashed once, however many records name it
    todo = [p for p in inputs if p.is_dir()]
    while todo:
        folder = todo.pop()
        file = folder / LINEAGE
        if folder in seen or not file.is_file():
            continue
        seen.add(folder)
        made = json.loads(file.read_text())
        for name, wanted in made["inputs"].items():
            source = Path(name)
            if not source.exists():
                continue  # not in this workspace (a run elsewhere): nothing to compare
            if digests.setdefault(source, digest(source)) != wanted:
                raise PipelineError(f"{folder}: was made by {made['stage']} from another {source} than the one here "
                                    f"(it changed since); rerun {made['stage']} first (`dvc repro` reruns whatever "
                                    f"is out of date)")
            if source.is_dir():
                todo.append(source)
