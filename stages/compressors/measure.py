"""Score every variant the same way: accuracy, macro-F1, latency, throughput, size, peak memory.

Each variant is loaded from its own directory through the `predict.py` runtime it ships with, so
what is measured is what would be deployed. With `isolated=True` each variant runs in a fresh
process: peak memory is then that process's own, and no allocator or thread-pool state leaks
between variants. Timings cover the model call only (texts are tokenized beforehand, identically).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def classification_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(labels, predictions)),
            "macro_f1": float(f1_score(labels, predictions, average="macro"))}


def predict_all(predictor, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Predicted class ids for all texts."""
    out = [predictor.logits(predictor.encode(texts[i:i + batch_size])).argmax(axis=1)
           for i in range(0, len(texts), batch_size)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def time_batches(predictor, texts: list[str], batch_size: int, warmup: int, repeats: int) -> dict[str, float]:
    """p50/p95 per call (ms) and texts/s over `repeats` timed calls, test texts taken in order."""
    starts = [(i * batch_size) % max(1, len(texts) - batch_size + 1) for i in range(warmup + repeats)]
    batches = [predictor.encode(texts[s:s + batch_size]) for s in starts]
    for batch in batches[:warmup]:
        predictor.logits(batch)
    seconds = []
    for batch in batches[warmup:]:
        start = time.perf_counter()
        predictor.logits(batch)
        seconds.append(time.perf_counter() - start)
    n_texts = sum(len(b["input_ids"]) for b in batches[warmup:])
    return {f"latency_p50_ms_b{batch_size}": 1000 * float(np.percentile(seconds, 50)),
            f"latency_p95_ms_b{batch_size}": 1000 * float(np.percentile(seconds, 95)),
            f"throughput_b{batch_size}": n_texts / sum(seconds)}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def measure_variant(directory: Path, texts: list[str], labels: list[int], settings: dict) -> dict:
    """All figures for one variant directory, in this process. `predictions` is kept for agreement."""
    from .bundle import model_size_mb
    from .runtime import Predictor

    before = rss_mb()
    predictor = Predictor(directory, threads=settings["threads"])
    predictions = predict_all(predictor, texts)
    result = {"size_mb": model_size_mb(Path(directory)), "threads": settings["threads"],
              **classification_metrics(predictions, np.asarray(labels))}
    for batch_size in settings["batch_sizes"]:
        result |= time_batches(predictor, texts, batch_size, settings["warmup"], settings["repeats"])
    # ru_maxrss is the whole process's peak (KiB on Linux); only meaningful in a fresh process
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    result["peak_over_baseline_mb"] = result["peak_rss_mb"] - before
    result["predictions"] = predictions.tolist()
    return result


def measure_isolated(directory: Path, texts: list[str], labels: list[int], settings: dict) -> dict:
    """`measure_variant` in a fresh Python process with the thread count pinned in its environment."""
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"directory": str(directory), "texts": texts, "labels": labels,
                                   "settings": settings}))
        threads = str(settings["threads"])
        env = os.environ | {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "false"}
        done = subprocess.run([sys.executable, "-m", "stages.compressors.measure", str(job)], env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"measuring {directory} failed: {done.stderr.strip().splitlines()[-1:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    job = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps(measure_variant(Path(job["directory"]), job["texts"], job["labels"], job["settings"])))
