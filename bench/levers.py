"""Which speed levers help the training step of (c), measured side by side in one process.

Each variant is its own copy of the model and optimiser (same initial weights) and trains on the same
real, length-bucketed Rotten Tomatoes batches; variants are interleaved batch by batch, and the
median step time (forward, backward, clipping, optimiser) is reported relative to the first variant.

    python -m bench.levers [--smoke] [--steps 8] [--batch-size 16] [--compile] [--only "NAME;NAME"]
"""
from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import median, model_path, rt_subset, write_result

# name: (autocast dtype, fused AdamW, threads (None: all), attention implementation, deterministic algorithms,
#        batch widths rounded up to a multiple of (collate's `multiple`))
# The stage runs with torch.use_deterministic_algorithms(True) (seed_everything) and, since this issue, without
# NaN-filling uninitialised memory ("fill" below is deterministic mode with the filling, as before).
VARIANTS = {
    "fp32, foreach AdamW, NaN-filling (before)": (None, False, None, "sdpa", "fill", 1),
    "fp32, fused AdamW, NaN-filling": (None, True, None, "sdpa", "fill", 1),
    "fp32, fused AdamW (now)": (None, True, None, "sdpa", True, 1),
    "bf16 autocast, fused AdamW": (torch.bfloat16, True, None, "sdpa", True, 1),
    "fp32, fused, eager attention": (None, True, None, "eager", True, 1),
    "fp32, fused, 1 thread": (None, True, 1, "sdpa", True, 1),
    "fp32, fused, deterministic algorithms off": (None, True, None, "sdpa", False, 1),
    "fp32, fused, widths padded to 16": (None, True, None, "sdpa", True, 16),
}


def step(model, optimizer, batch, labels, amp) -> float:
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
        logits = model(**batch).logits
    loss = torch.nn.functional.cross_entropy(logits.float(), labels)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per variant (after 1 warm-up)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--compile", action="store_true", help="add torch.compile(dynamic=True) (slow to compile)")
    parser.add_argument("--only", default=None, help="variant names to run, separated by ; (default: all)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps = 2
    from ftpipe.data.tokens import tokenize_texts
    from ftpipe.training.batching import collate, train_batches
    from ftpipe.training.models import load_classifier, load_tokenizer

    threads = os.cpu_count()
    source = model_path(args.smoke, Path(tempfile.mkdtemp(prefix="bench-levers-")))
    tokenizer = load_tokenizer(source)
    texts, labels = rt_subset(args.batch_size * (args.steps + 1), 0)["train"]
    ids = tokenize_texts(tokenizer, texts, 128)[0]
    order = train_batches(np.array([len(x) for x in ids]), args.batch_size, 42, 0, True)
    variants = dict(VARIANTS)
    if args.compile:
        variants["fp32, fused, torch.compile"] = (None, True, None, "compile", True, 1)
    if args.only:
        variants = {name: variants[name] for name in args.only.split(";")}
    batches = [({m: collate(ids, b, tokenizer.pad_token_id, m) for m in {v[5] for v in variants.values()}},
                torch.as_tensor(labels[b])) for b in order]
    torch.manual_seed(0)
    base = load_classifier(source, ["fresh", "rotten"])
    setups = {}
    for name, (amp, fused, n_threads, attn, deterministic, multiple) in variants.items():
        model = copy.deepcopy(base)
        if attn == "eager":
            model.set_attn_implementation("eager")
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=fused, foreach=None if fused else True)
        model.train()
        runner = torch.compile(model, dynamic=True) if attn == "compile" else model
        setups[name] = (runner, optimizer, amp, n_threads or threads, deterministic, multiple)
    times = {name: [] for name in setups}
    for i, (batch, y) in enumerate(batches):
        for name, (model, optimizer, amp, n_threads, deterministic, multiple) in setups.items():
            torch.set_num_threads(n_threads)
            torch.use_deterministic_algorithms(bool(deterministic), warn_only=True)
            torch.utils.deterministic.fill_uninitialized_memory = deterministic == "fill"
            seconds = step(model, optimizer, batch[multiple], y, amp)
            if i:  # the first batch warms up (and compiles)
                times[name].append(seconds)
    first = median(next(iter(times.values())))
    results = {name: {"step_seconds": round(median(t), 4), "speedup": round(first / median(t), 2), "steps": len(t)}
               for name, t in times.items()}
    payload = {"settings": vars(args) | {"threads": threads}, "results": results}
    write_result("levers", payload, args.smoke)
    return payload


if __name__ == "__main__":
    main()
