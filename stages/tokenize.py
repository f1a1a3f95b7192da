"""tokenize: turn each split into token ids with the model's fast tokenizer, truncated, unpadded.

Padding happens per batch at train time, so short texts cost short sequences.
Writes `data/tokenized/{train,validation,test}.parquet` (input_ids, label, length) and
`metrics/tokenize.json` (token-length statistics and truncation rate per split).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

from stages.core.config import load_params
from stages.core.errors import PipelineError, run_stage
from stages.core.io import atomic_path, write_json
from stages.core.logs import get_logger
from stages.core.modeling import load_tokenizer, model_source
from stages.core.validate import check_model

INPUTS = {"train": "data/augmented/train.parquet", "validation": "data/clean/validation.parquet",
          "test": "data/clean/test.parquet"}
OUT_DIR, METRICS = "data/tokenized", "metrics/tokenize.json"
BATCH = 1024
log = get_logger("tokenize")


def tokenize_texts(tokenizer, texts: list[str], max_length: int) -> tuple[list[list[int]], np.ndarray]:
    """Token ids truncated to max_length, plus each text's untruncated length."""
    ids, full_lengths = [], []
    for start in tqdm(range(0, len(texts), BATCH), desc="tokenize", unit="batch", leave=False):
        batch = texts[start:start + BATCH]
        full = tokenizer(batch, truncation=False, add_special_tokens=True)["input_ids"]
        full_lengths.extend(len(x) for x in full)
        ids.extend(x if len(x) <= max_length else x[:max_length - 1] + [x[-1]] for x in full)
    return ids, np.asarray(full_lengths)


def length_stats(full_lengths: np.ndarray, max_length: int) -> dict[str, float]:
    return {"mean": round(float(full_lengths.mean()), 2), "p50": int(np.percentile(full_lengths, 50)),
            "p95": int(np.percentile(full_lengths, 95)), "max": int(full_lengths.max()),
            "truncated_share": round(float((full_lengths > max_length).mean()), 4)}


def main() -> None:
    cfg = load_params()
    check_model(cfg.model)
    tokenizer = load_tokenizer(model_source(cfg.model))
    limit = tokenizer.model_max_length if tokenizer.model_max_length < 1e6 else None
    if limit and cfg.model.max_length > limit:
        raise PipelineError(f"model.max_length: {cfg.model.max_length} exceeds the model's limit of {limit}")
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
