"""Resumable training checkpoints: weights, optimiser, schedule, RNG states and loop position.

A checkpoint is only resumed when its fingerprint (train params, input data and train's code, as dvc.yaml
lists it) matches, so a changed config or an edited loop never continues a stale run. Each is written to a
temp dir and renamed.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from ftpipe.config.params import flatten
from ftpipe.infra import lineage
from ftpipe.infra.codedeps import stage_code
from ftpipe.infra.io import atomic_path
from ftpipe.infra.logs import get_logger
from ftpipe.training import distributed as ddp

STATE_FILE = "state.pt"
log = get_logger("train")


# params that change how training goes; how often it logs or checkpoints, and how it is launched, do not
RESUMABLE_SECTIONS = ("seed", "model", "train")
NOT_RESUMABLE = ("train.checkpoint", "train.log_every", "train.nproc")


def training_fingerprint(cfg: DictConfig, world: int, data_files: list[Path]) -> str:
    """The identity of a training: what it reads, how it is configured, and train's code (codedeps)."""
    params = {k: v for k, v in flatten(cfg).items() if k.split(".")[0] in RESUMABLE_SECTIONS
              and not k.startswith(NOT_RESUMABLE)}
    if world > 1:  # a checkpoint's batch position only means something for the same number of processes
        params["world_size"] = world
    return fingerprint(params, [*data_files, *stage_code("train")])


def fingerprint(params: dict[str, Any], files: list[str | Path]) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for path in files:  # a file's bytes, or a folder's (a tokenized split: every file, names included)
        digest.update(lineage.digest(Path(path)).encode())
    return digest.hexdigest()[:16]


def rng_state() -> dict[str, Any]:
    """Every random stream, as tensors and plain values only (so a checkpoint loads with weights_only=True)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                    gauss], "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, cached))
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
        try:  # tensors, containers and plain values only: a pickled object in the file is refused, never run
            state = torch.load(state_file, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            # torch's message is a multi-line how-to for loading it unsafely: say what it means here instead
            log.warning("%s: not loaded: it holds pickled objects, not only tensors (an older ftpipe's checkpoint, "
                        "or a file from elsewhere); it is ignored and training starts fresh", state_file)
            log.debug("torch.load: %s", exc)
            continue
        if state.get("fingerprint") == fingerprint_:
            return state
    if directory.exists():
        shutil.rmtree(directory)
    return None


def prune(directory: Path, keep: int) -> None:
    for old in sorted(directory.glob("step-*"), reverse=True)[max(keep, 0):]:
        shutil.rmtree(old, ignore_errors=True)


def resume(trainer, directory: Path, fingerprint_: str) -> bool:
    """Load the newest checkpoint of this training into `trainer` (every rank alike); False when none matches."""
    with ddp.main_first():  # rank 0 removes stale checkpoints before the others look; then all load the same
        saved = latest(directory, fingerprint_)
    if saved is None:
        return False
    trainer.load_state_dicts(saved)
    set_rng_state(saved["rank_rng"][ddp.rank()] if "rank_rng" in saved else saved["rng"])
    state = trainer.state
    log.info("resuming from epoch %d, batch %d (step %d)", state.epoch, state.batch, state.step)
    return True


def save_training(trainer, directory: Path, fingerprint_: str, keep: int) -> None:
    """Checkpoint `trainer` (called on every rank: the tallies are pooled, each rank's RNG streams gathered)."""
    trainer.state.pool()
    rank_rng = ddp.gather(rng_state())  # so each resumed rank continues its own random streams
    if ddp.is_main():
        save(directory, trainer.state.step, {"fingerprint": fingerprint_, **trainer.state_dicts(),
                                             **({"rank_rng": rank_rng} if rank_rng else {})}, keep=keep)
