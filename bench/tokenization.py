"""Question 4: tokenization throughput of the `tokenize` stage's function vs a plain `datasets.map(tokenizer)`.

All three produce truncated, unpadded ids with the same fast tokenizer; the stage also records each
text's untruncated length. In-memory datasets, so `map` does no disk caching.

    python -m bench.tokenization [--smoke] [--rows 4000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import median, model_path, rt_subset, write_result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.repeats = 64, 1
    import datasets

    from ftpipe.data.tokens import tokenize_texts
    from ftpipe.training.models import load_tokenizer

    datasets.disable_progress_bars()
    tokenizer = load_tokenizer(model_path(args.smoke, Path(tempfile.mkdtemp(prefix="bench-tok-"))))
    texts = rt_subset(args.rows, 0)["train"][0]
    dataset = datasets.Dataset.from_dict({"text": texts})

    def tok(batch):
        return tokenizer(batch["text"], truncation=True, max_length=128)

    ways = {"stage tokenize_texts": lambda: tokenize_texts(tokenizer, texts, 128),
            "datasets.map(batched=True)": lambda: dataset.map(tok, batched=True, remove_columns=["text"]),
            "datasets.map (per row)": lambda: dataset.map(tok, remove_columns=["text"])}
    times = {name: [] for name in ways}
    for _ in range(args.repeats):
        for name, fn in ways.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    stage = len(texts) / median(times["stage tokenize_texts"])
    results = {name: {"texts_per_s": round(len(texts) / median(t), 1), "repeats": len(t),
                      "stage_speedup": round(stage / (len(texts) / median(t)), 2)} for name, t in times.items()}
    payload = {"settings": vars(args), "results": results}
    write_result("tokenization", payload, args.smoke)
    return payload


if __name__ == "__main__":
    main()
