"""tokenize: turn each split into token ids with the model's fast tokenizer, truncated, unpadded.

Padding happens per batch at train time, so short texts cost short sequences.
Writes `data/tokenized/{train,validation,test}/`, one `datasets.Dataset` folder each (input_ids, label, length;
`datasets.load_from_disk` opens it), and
`metrics/tokenize.json` (token-length statistics, truncation rate and unknown-token share per split). Refuses a
tokenizer that is not the model's, and text the tokenizer mostly cannot read (`model.max_unk_share`).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ftpipe.config.params import load_params
from ftpipe.data.tokens import check_max_length, check_unknown_share, length_stats, tokenize_texts, unknown_share
from ftpipe.infra import lineage
from ftpipe.infra.io import write_json
from ftpipe.infra.logs import get_logger
from ftpipe.infra.publish import publish
from ftpipe.infra.stage import run_stage
from ftpipe.training.batching import save_tokenized
from ftpipe.training.models import check_vocabulary, load_tokenizer, model_source

CLEAN, AUGMENTED = Path("data/clean"), Path("data/augmented")
INPUTS = {"train": AUGMENTED / "train.parquet", "validation": CLEAN / "validation.parquet",
          "test": CLEAN / "test.parquet"}
OUT_DIR, METRICS = "data/tokenized", "metrics/tokenize.json"
log = get_logger("tokenize")


def main() -> None:
    cfg = load_params()
    lineage.check([CLEAN, AUGMENTED])  # the augmented train split must come from this data/clean
    source = model_source(cfg.model)
    tokenizer = load_tokenizer(source)
    check_vocabulary(tokenizer, source)
    check_max_length(tokenizer, cfg.model.max_length)
    report = {}
    with publish() as out:
        folder = out.dir(OUT_DIR)
        for split, path in INPUTS.items():
            frame = pd.read_parquet(path)
            ids, full_lengths = tokenize_texts(tokenizer, frame["text"].tolist(), cfg.model.max_length)
            report[split] = {**length_stats(full_lengths, cfg.model.max_length),
                             "unk_share": unknown_share(tokenizer, ids)}
            check_unknown_share(report[split]["unk_share"], cfg.model.max_unk_share, split, source)
            save_tokenized(folder / split, ids, frame["label"].to_numpy())
            log.info("%s: %d texts, %s", split, len(ids), report[split])
        lineage.record(folder, "tokenize", [CLEAN, AUGMENTED])
        write_json(out.file(METRICS), report)


if __name__ == "__main__":
    run_stage(main)
