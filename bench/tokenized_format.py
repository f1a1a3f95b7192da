"""Tokenized splits: the old container (one parquet file per split, read with pandas) vs the new one (a
`datasets.Dataset` folder per split, `save_to_disk` / `load_from_disk` memory-mapped), on the full default data.

Each measurement is its own process (its own peak RSS), old and new alternating, `--repeats` times each:
- write: what tokenize does (load the model's tokenizer, tokenize the three splits), then write them; the write's
  seconds and the process's peak RSS (the stage's whole peak, tokenizer and ids included).
- load: what train and evaluate do with the container: load the three splits into token ids and labels (new:
  `TokenSplit.load`, `datasets` imported on first use, counted), then collate every batch of one training epoch
  (train's batch order and batch size) with the collate before (a tensor per row) and the one now (one numpy
  scatter): the only part of training that touches the container. Peak RSS after loading and after collating,
  and the RSS before loading (after importing stages.train, as train).

    python -m bench.tokenized_format [--data data] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, median, peak_rss_mb, run_worker, write_result

SPLITS = {"train": "augmented/train.parquet", "validation": "clean/validation.parquet", "test": "clean/test.parquet"}


def rss_mb() -> float:
    return round(int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20, 1)


def old_load(path: Path):
    """The loader before: pandas, then a list per row (of numpy scalars)."""
    import numpy as np
    import pandas as pd

    frame = pd.read_parquet(path)
    ids = [list(x) for x in frame["input_ids"]]
    return ids, frame["label"].to_numpy(dtype=np.int64)


def old_collate(ids, index, pad_id: int) -> dict:
    """The collate before: a tensor per row."""
    import torch

    rows = [ids[i] for i in index]
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, :len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def write(spec: dict) -> dict:
    import pandas as pd

    from ftpipe.config.params import load_params
    from ftpipe.data.tokens import tokenize_texts
    from ftpipe.training.batching import save_tokenized
    from ftpipe.training.models import load_tokenizer, model_source

    cfg = load_params(ROOT / "params.yaml")
    tokenizer = load_tokenizer(model_source(cfg.model))
    frames = {split: pd.read_parquet(Path(spec["data"]) / path) for split, path in SPLITS.items()}
    ids = {split: tokenize_texts(tokenizer, frame["text"].tolist(), cfg.model.max_length)[0]
           for split, frame in frames.items()}
    Path(spec["out"]).mkdir(parents=True)
    before, start = peak_rss_mb(), time.perf_counter()
    if spec["format"] == "arrow":
        import datasets  # noqa: F401  (what save_tokenized would import first: counted in write_s, and shown)
    import_s = time.perf_counter() - start
    for split, frame in frames.items():
        out = Path(spec["out"]) / split
        if spec["format"] == "parquet":  # what tokenize wrote before
            pd.DataFrame({"input_ids": ids[split], "label": frame["label"].to_numpy(),
                          "length": [len(x) for x in ids[split]]}).to_parquet(f"{out}.parquet", index=False)
        else:
            save_tokenized(out, ids[split], frame["label"].to_numpy())
    seconds = time.perf_counter() - start
    files = [p for p in Path(spec["out"]).rglob("*") if p.is_file()]
    return {"write_s": seconds, "of_which_import_datasets_s": import_s, "peak_rss_before_write_mb": before,
            "peak_rss_mb": peak_rss_mb(),
            "bytes_on_disk": sum(p.stat().st_size for p in files)}


def load(spec: dict) -> dict:
    import numpy as np

    import stages.train  # noqa: F401  (what train has imported before it loads: transformers, torch, pandas ...)
    from ftpipe.config.params import load_params
    from ftpipe.training.batching import TokenSplit, collate, train_batches

    cfg, folder = load_params(ROOT / "params.yaml"), Path(spec["tokenized"])
    rss_before, start = rss_mb(), time.perf_counter()
    if spec["format"] == "arrow":
        import datasets  # noqa: F401  (what TokenSplit.load would import first: counted in load_s, and shown)
    import_s, splits = time.perf_counter() - start, {}
    for split in SPLITS:
        if spec["format"] == "parquet":
            ids, labels = old_load(folder / f"{split}.parquet")
            splits[split] = TokenSplit(ids, labels, np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)))
        else:
            splits[split] = TokenSplit.load(folder / split)
    load_s, peak_loaded = time.perf_counter() - start, peak_rss_mb()
    train = splits["train"]
    batches = train_batches(train.lengths, cfg.train.batch_size, cfg.seed, 0, True)
    seconds = {}
    for name, fn in (("old_collate_epoch_s", old_collate), ("collate_epoch_s", collate)):
        start = time.perf_counter()
        for index in batches:
            fn(train.ids, index, 0)
        seconds[name] = time.perf_counter() - start
    return {"load_s": load_s, "of_which_import_datasets_s": import_s, **seconds, "batches": len(batches),
            "rows": {s: len(v.labels) for s, v in splits.items()}, "rss_before_load_mb": rss_before,
            "peak_rss_after_load_mb": peak_loaded, "peak_rss_mb": peak_rss_mb()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT / "data"), help="folder holding clean/ and augmented/")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps((write if spec["task"] == "write" else load)(spec)))
        return {}
    scratch, runs = Path(tempfile.mkdtemp(prefix="bench-tokfmt-")), {}
    try:
        for task in ("write", "load"):
            for i in range(args.repeats):
                for fmt in ("parquet", "arrow"):
                    spec = {"task": task, "format": fmt, "data": args.data, "out": str(scratch / f"{fmt}-{i}"),
                            "tokenized": str(scratch / f"{fmt}-0")}
                    runs.setdefault(f"{task} {fmt}", []).append(run_worker("bench.tokenized_format", spec))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary = {name: {key: median([r[key] for r in rs]) for key in rs[0] if isinstance(rs[0][key], (int, float))}
               for name, rs in runs.items()}
    path = write_result("tokenized_format", {"settings": vars(args), "median": summary, "runs": runs}, smoke=False)
    print(json.dumps(summary, indent=2), f"\nwrote {path}")
    return summary


if __name__ == "__main__":
    main()
