"""Data-parallel batch sharding (disjoint, covering, equal counts) and the train.nproc check."""
from __future__ import annotations

import math

import numpy as np
import pytest
from omegaconf import OmegaConf

from ftpipe.config.schema import check_section
from ftpipe.infra.errors import PipelineError
from ftpipe.training import distributed as ddp
from ftpipe.training.batching import train_batches
from tests.helpers.config import train_cfg


def rows_of(batches) -> list[int]:
    return [int(i) for batch in batches for i in batch]


@pytest.mark.parametrize("n_rows, batch_size, world", [(160, 8, 2), (161, 8, 2), (163, 8, 3), (17, 8, 2), (9, 8, 2),
                                                       (100, 7, 4), (8, 8, 1)])
def test_shards_are_disjoint_cover_every_row_and_have_equal_batch_counts(n_rows, batch_size, world):
    lengths = np.random.default_rng(1).integers(5, 60, size=n_rows)
    batches = train_batches(lengths, batch_size, seed=3, epoch=0, bucketing=True)
    shards = [ddp.shard(batches, r, world) for r in range(world)]
    assert len({len(s) for s in shards}) == 1 and len(shards[0]) == math.ceil(len(batches) / world)
    seen = [rows_of(s) for s in shards]
    assert sorted(sum(seen, [])) == list(range(n_rows))          # covering, and nothing twice: disjoint
    assert all(len(batch) > 0 for s in shards for batch in s)    # no rank gets an empty batch to wait on
    # a pure function of (seed, epoch): the same on every call, another order next epoch
    again = ddp.shard(train_batches(lengths, batch_size, seed=3, epoch=0, bucketing=True), 0, world)
    assert rows_of(again) == seen[0]
    if world > 1:
        assert rows_of(ddp.shard(train_batches(lengths, batch_size, 3, 1, True), 0, world)) != seen[0]


def test_fewer_leftover_rows_than_ranks_are_padded_not_dropped():
    batches = [np.arange(0, 4), np.arange(4, 8), np.arange(8, 9)]  # the last batch has 1 row for 2 ranks
    shards = [ddp.shard(batches, r, 2) for r in range(2)]
    assert [len(s) for s in shards] == [2, 2]
    assert set(rows_of(shards[0]) + rows_of(shards[1])) == set(range(9))
    assert rows_of(shards[0])[-1] == rows_of(shards[1])[-1] == 8  # the one row, on both ranks


@pytest.mark.parametrize("value", [0, -2, "two", 1.5])
def test_a_bad_nproc_is_a_one_line_error_naming_the_key(value):
    train = train_cfg()
    OmegaConf.update(train, "nproc", value)
    with pytest.raises(PipelineError, match=r"^train\.nproc: (must be a positive integer|expected an integer), got"):
        check_section("train", train)
