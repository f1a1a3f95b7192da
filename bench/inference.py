"""Question 3: inference throughput of `evaluate` (predict_probs) and of each compression variant, batch 1 and 32.

Variants are builders `model -> model` in VARIANTS; add one there (e.g. from ftpipe/compression/) and it is
measured like the rest. `fp32_input_order` is predict_probs without its length sort, to show that lever.
Weights are the pretrained encoder with a fresh 2-class head: speed does not depend on their values.

    python -m bench.inference [--smoke] [--rows 256] [--repeats 3] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import median, model_path, rt_subset, write_result


def fp32(model):
    return model


def torch_int8(model):
    from ftpipe.compression.quantize import torch_int8 as quantize

    return quantize(model, embeddings=False)  # Linear layers only: predict_probs passes no explicit position ids


VARIANTS = {"fp32": fp32, "torch_int8": torch_int8}
BATCH_SIZES = (1, 32)


@torch.inference_mode()
def predict_input_order(model, ids, batch_size, pad_id):
    """predict_probs without the length sort: batches in the order the texts come."""
    from ftpipe.training.batching import collate

    model.eval()
    for start in range(0, len(ids), batch_size):
        model(**collate(ids, np.arange(start, min(start + batch_size, len(ids))), pad_id))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.repeats = 16, 1
    from ftpipe.data.tokens import tokenize_texts
    from ftpipe.evaluation.predict import predict_probs
    from ftpipe.training.models import load_classifier, load_tokenizer

    torch.set_num_threads(args.threads)
    source = model_path(args.smoke, Path(tempfile.mkdtemp(prefix="bench-infer-")))
    tokenizer = load_tokenizer(source)
    texts = rt_subset(args.rows, 0, seed=7)["train"][0]
    ids = tokenize_texts(tokenizer, texts, 128)[0]
    base = load_classifier(source, ["fresh", "rotten"])
    models = {name: build(base) for name, build in VARIANTS.items()}
    cpu, pad = torch.device("cpu"), tokenizer.pad_token_id
    runs = {(name, bs): [] for name in [*models, "fp32_input_order"] for bs in BATCH_SIZES}
    for _ in range(args.repeats):
        for (name, bs), times in runs.items():  # interleaved
            start = time.perf_counter()
            if name == "fp32_input_order":
                predict_input_order(models["fp32"], ids, bs, pad)
            else:
                predict_probs(models[name], ids, bs, cpu, pad)
            times.append(time.perf_counter() - start)
    results = {f"{name}@bs{bs}": {"texts_per_s": round(len(ids) / median(t), 2),
                                  "ms_per_text": round(1000 * median(t) / len(ids), 3), "repeats": len(t)}
               for (name, bs), t in runs.items()}
    for key, row in results.items():
        row["speedup_vs_fp32"] = round(row["texts_per_s"] / results["fp32@bs" + key.split("@bs")[1]]["texts_per_s"], 2)
    payload = {"settings": vars(args), "mean_tokens": round(float(np.mean([len(x) for x in ids])), 1),
               "results": results}
    write_result("inference", payload, args.smoke)
    return payload


if __name__ == "__main__":
    main()
