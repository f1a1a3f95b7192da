"""Tokenized splits and their batches.

A tokenized split is one Arrow `datasets.Dataset` folder (`save_to_disk`: columns input_ids, label, length), so
`datasets.load_from_disk("data/tokenized/train")` opens it too. `save_tokenized` writes one, `TokenSplit.load`
reads one memory-mapped. Batches are length-bucketed but shuffled for training, length-sorted for inference.
`datasets` is imported inside those two: it costs ~0.5 s and ~25 MB that only tokenize, train and evaluate need,
not every user of `collate` (compress, the benchmarks).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from ftpipe.infra.errors import PipelineError

COLUMNS = {"input_ids": pa.list_(pa.int32()), "label": pa.int64(), "length": pa.int32()}


def save_tokenized(folder: str | Path, ids: Sequence[Sequence[int]], labels: Sequence[int]) -> None:
    """Write one split to `folder` with `Dataset.save_to_disk`, in one shard; the same ids and labels give the same
    bytes, so DVC sees an unchanged folder and does not rerun train.

    state.json records the dataset's fingerprint. The one datasets would make hashes the pickled in-memory object
    (and turns random when that fails); this one is a sha256 of the columns' Arrow buffers: the content alone.
    """
    from datasets import Dataset
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    table = pa.table({"input_ids": pa.array(ids, COLUMNS["input_ids"]), "label": pa.array(labels, COLUMNS["label"]),
                      "length": pa.array([len(x) for x in ids], COLUMNS["length"])}, schema=pa.schema(COLUMNS))
    digest = hashlib.sha256()
    for column in table.columns:
        for chunk in column.chunks:
            for buffer in chunk.buffers():
                if buffer is not None:
                    digest.update(buffer)
    quiet = are_progress_bars_disabled()
    disable_progress_bars()  # a bar per split says nothing here: tokenize logs each split's row count
    try:
        Dataset(table, fingerprint=digest.hexdigest()[:16]).save_to_disk(str(folder), num_shards=1)
    finally:
        if not quiet:
            enable_progress_bars()


def load_tokenized(folder: str | Path) -> tuple[list[np.ndarray], np.ndarray]:
    """A split's token ids, one array per row (views of the memory-mapped Arrow file, not copies), and its labels.

    Anything that is not a split `save_tokenized` wrote (missing, truncated, other columns) is one PipelineError.
    """
    import datasets

    try:
        table = datasets.load_from_disk(str(folder), keep_in_memory=False).data.table
        column, labels = table.column("input_ids"), table.column("label")
        if not (pa.types.is_integer(labels.type) and pa.types.is_integer(column.type.value_type)):
            raise TypeError(f"input_ids is {column.type} and label {labels.type}, not integers")
        ids = []
        for chunk in (c for c in column.chunks if len(c)):  # np.split of an empty chunk would make one row
            ids.extend(np.split(chunk.flatten().to_numpy(), np.cumsum(chunk.value_lengths().to_numpy())[:-1]))
        return ids, labels.to_numpy().astype(np.int64)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, pa.ArrowException) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "no detail"
        raise PipelineError(f"{folder}: not a tokenized split saved by tokenize ({type(exc).__name__}: {detail}); "
                            f"rerun `dvc repro tokenize` (or `python -m stages.tokenize`)") from None


@dataclass(frozen=True)
class TokenSplit:
    """A tokenized split in memory: unpadded token ids (lists or arrays), label ids, and each row's length."""

    ids: Sequence[Sequence[int]]
    labels: np.ndarray
    lengths: np.ndarray

    @classmethod
    def load(cls, folder: str | Path) -> TokenSplit:
        ids, labels = load_tokenized(folder)
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


def collate(ids: Sequence[Sequence[int]], index: np.ndarray, pad_id: int, multiple: int = 1) -> dict[str, torch.Tensor]:
    """Pad the chosen examples to their own longest length (one numpy scatter, not a tensor per row).

    `multiple` rounds that width up, the extra places masked out like any padding: fewer distinct shapes, but more
    positions. Measured slower for training on CPU, so train does not use it (BENCHMARKS.md, bench.levers).
    """
    rows = [ids[i] for i in index]
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    width = -(-int(lengths.max()) // multiple) * multiple
    mask = np.arange(width) < lengths[:, None]
    input_ids = np.full(mask.shape, pad_id, dtype=np.int64)
    input_ids[mask] = np.concatenate(rows)  # row-major: each row's ids fill its first `length` places
    return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask.astype(np.int64))}
