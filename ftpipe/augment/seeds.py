"""Per-example seeds: a row's augmentation depends on (seed, augmenter, copy, row), never on batch order."""
from __future__ import annotations

import hashlib
import random

import numpy as np


def example_seed(seed: int, augmenter: str, copy: int, source_row: int) -> int:
    digest = hashlib.sha256(f"{seed}:{augmenter}:{copy}:{source_row}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def reseed(value: int) -> None:
    """nlpaug draws from the global `random` and `numpy.random` generators."""
    random.seed(value)
    np.random.seed(value)
