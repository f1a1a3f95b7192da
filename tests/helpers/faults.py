"""A ready-to-train workspace without running clean/tokenize, and running a stage's main() inside it."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ftpipe.config.compose import compose_config, write_params
from ftpipe.training.batching import save_tokenized

# what a metrics file holds that depends on the machine, not on the run: never compared
TIMING_KEYS = {"seconds", "samples_per_second", "tokens_per_second", "seconds_per_epoch", "peak_memory_mb"}
FAST_TRAIN = ["mlflow.log_model=false", "train.batch_size=8", "train.eval_batch_size=64", "train.num_threads=1",
              "train.log_every_steps=5"]


def texts(n: int, marker: str | None = None, every: int = 7) -> tuple[list[str], list[int]]:
    """n short two-class texts; every `every`-th carries `marker` (a word to poison) when given."""
    words = (["wonderful", "superb", "delightful"], ["dreadful", "boring", "awful"])
    out, labels = [], []
    for i in range(n):
        label = i % 2
        extra = f" {marker}" if marker and (i - 3) % every == 0 else ""
        out.append(f"review {i} a {words[label][i % 3]} film{extra} number {i % 97}")
        labels.append(label)
    return out, labels


def make_workspace(root: Path, model_dir: Path, *overrides: str, n_train: int = 200, n_val: int = 40,
                   marker: str | None = None, every: int = 7) -> Path:
    """root/ with params.yaml, data/clean/{labels.json,*.parquet} and data/tokenized/{train,validation,test}/ for
    `model_dir`."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("validation", n_val), ("test", n_val)):
        split_texts, labels = texts(n, marker if split == "train" else None, every)
        ids = tokenizer(split_texts, truncation=True, max_length=64)["input_ids"]
        save_tokenized(root / "data/tokenized" / split, ids, labels)
        (root / "data/clean").mkdir(parents=True, exist_ok=True)  # the texts too: train logs them as datasets
        pd.DataFrame({"text": split_texts, "label": labels, "source_row": range(1, n + 1)}).to_parquet(
            root / "data/clean" / f"{split}.parquet")
    (root / "data/clean/labels.json").write_text(json.dumps({"names": ["neg", "pos"]}))
    cfg = compose_config([f"model.name_or_path={model_dir}", *FAST_TRAIN, *overrides])
    write_params(cfg, root / "params.yaml")
    return root


@contextmanager
def inside(path: Path):
    """Run a stage's main() in-process from `path`, as `python -m` would from the workspace root."""
    old, old_uri = Path.cwd(), os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)
        if old_uri is not None:
            os.environ["MLFLOW_TRACKING_URI"] = old_uri


def train_report(root: Path) -> dict:
    report = json.loads((root / "metrics/train.json").read_text())
    return {k: v for k, v in report.items() if k not in TIMING_KEYS}
