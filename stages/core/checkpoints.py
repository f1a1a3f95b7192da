"""Resumable training checkpoints: weights, optimiser, schedule, RNG states and loop position.

A checkpoint is only resumed when its fingerprint (train params + input data) matches, so a
changed config never continues a stale run. Each is written to a temp dir and renamed.
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .io import atomic_path

STATE_FILE = "state.pt"


def fingerprint(params: dict[str, Any], files: list[str | Path]) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for path in files:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(directory: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write `directory/step-<N>/state.pt` atomically and prune to the newest `keep`."""
    dest = directory / f"step-{step:08d}"
    with atomic_path(dest, is_dir=True) as tmp:
        torch.save({**state, "rng": rng_state()}, tmp / STATE_FILE)
    prune(directory, keep)
    return dest


def latest(directory: Path, fingerprint_: str) -> dict[str, Any] | None:
    """The newest complete checkpoint with this fingerprint; stale ones are removed."""
    for path in sorted(directory.glob("step-*"), reverse=True):
        state_file = path / STATE_FILE
        if not state_file.is_file():
            continue
        state = torch.load(state_file, map_location="cpu", weights_only=False)
        if state.get("fingerprint") == fingerprint_:
            return state
    if directory.exists():
        shutil.rmtree(directory)
    return None


def prune(directory: Path, keep: int) -> None:
    for old in sorted(directory.glob("step-*"), reverse=True)[max(keep, 0):]:
        shutil.rmtree(old, ignore_errors=True)
