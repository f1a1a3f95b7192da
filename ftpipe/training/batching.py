"""Batches of token ids: length-bucketed but shuffled for training, length-sorted for inference."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def load_tokenized(path: str | Path) -> tuple[list[list[int]], np.ndarray]:
    frame = pd.read_parquet(path)
    return [list(x) for x in frame["input_ids"]], frame["label"].to_numpy(dtype=np.int64)


@dataclass(frozen=True)
class TokenSplit:
    """A tokenized split in memory: unpadded token ids, label ids, and each row's length."""

    ids: list[list[int]]
    labels: np.ndarray
    lengths: np.ndarray

    @classmethod
    def load(cls, path: str | Path) -> TokenSplit:
        ids, labels = load_tokenized(path)
        return cls(ids, labels, np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)))


def train_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, bucketing: bool) -> list[np.ndarray]:
    """The batch order of one epoch, a pure function of (seed, epoch), so a resumed run replays it.

    With bucketing, examples are shuffled, cut into pools of 50 batches, sorted by length inside
    each pool and batched; the batches are shuffled again. Padding shrinks, randomness stays.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if bucketing:
        pool = batch_size * 50
        order = np.concatenate([chunk[np.argsort(lengths[chunk], kind="stable")]
                                for chunk in np.array_split(order, max(1, -(-len(order) // pool)))])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if bucketing:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def inference_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Longest first, so memory peaks at the start and padding is minimal; callers restore order."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def collate(ids: list[list[int]], index: np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the chosen examples to their own longest length."""
    rows = [ids[i] for i in index]
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, :len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}
