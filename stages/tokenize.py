"""tokenize: turn each split into token ids with the model's fast tokenizer, truncated, unpadded.

Padding happens per batch at train time, so short texts cost short sequences.
Writes `data/tokenized/{train,validation,test}.parquet` (input_ids, label, length) and
`metrics/tokenize.json` (token-length statistics and truncation rate per split).
"""
from __future__ import annotations

import pandas as pd

from ftpipe.config.params import load_params
from ftpipe.data.tokens import check_max_length, length_stats, tokenize_texts
from ftpipe.infra.io import atomic_path, write_json
from ftpipe.infra.logs import get_logger
from ftpipe.infra.stage import run_stage
from ftpipe.training.models import load_tokenizer, model_source

INPUTS = {"train": "data/augmented/train.parquet", "validation": "data/clean/validation.parquet",
          "test": "data/clean/test.parquet"}
OUT_DIR, METRICS = "data/tokenized", "metrics/tokenize.json"
log = get_logger("tokenize")


def main() -> None:
    cfg = load_params()
    tokenizer = load_tokenizer(model_source(cfg.model))
    check_max_length(tokenizer, cfg.model.max_length)
    report = {}
    with atomic_path(OUT_DIR, is_dir=True) as out:
        for split, path in INPUTS.items():
            frame = pd.read_parquet(path)
            ids, full_lengths = tokenize_texts(tokenizer, frame["text"].tolist(), cfg.model.max_length)
            pd.DataFrame({"input_ids": ids, "label": frame["label"].to_numpy(),
                          "length": [len(x) for x in ids]}).to_parquet(out / f"{split}.parquet", index=False)
            report[split] = length_stats(full_lengths, cfg.model.max_length)
            log.info("%s: %d texts, %s", split, len(ids), report[split])
    write_json(METRICS, report)


if __name__ == "__main__":
    run_stage(main)
