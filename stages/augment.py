"""augment: enlarge the train split (pass-through until augmenters are configured).

Writes `data/augmented/train.parquet` (text, label, source_row, origin) and `metrics/augment.json`.
"""
from __future__ import annotations

import pandas as pd

from stages.core.config import load_params
from stages.core.errors import PipelineError, run_stage
from stages.core.io import write_json, write_parquet
from stages.core.logs import get_logger

IN_TRAIN, OUT_TRAIN, METRICS = "data/clean/train.parquet", "data/augmented/train.parquet", "metrics/augment.json"
log = get_logger("augment")


def main() -> None:
    cfg = load_params()
    if list(cfg.augment.augmenters):
        raise PipelineError(f"augment.augmenters: unknown augmenter(s) {list(cfg.augment.augmenters)}")
    train = pd.read_parquet(IN_TRAIN).assign(origin="original")
    write_parquet(OUT_TRAIN, train)
    write_json(METRICS, {"rows_original": len(train), "rows_added": 0})
    log.info("passed %d train rows through (no augmenters configured)", len(train))


if __name__ == "__main__":
    run_stage(main)
