"""Score every variant the same way: accuracy, macro-F1, latency, throughput, size, peak memory.

Each variant is loaded from its own directory through the `predict.py` runtime it ships with, so what
is measured is what would be deployed. Two passes:
- scoring: a fresh process per variant (`isolated=True`) loads it and classifies the test set, giving
  accuracy, predictions and that process's peak resident memory;
- timing: all variants loaded in one process and timed in interleaved rounds on identical batches, so
  load from other processes on a shared CPU falls on every variant alike. Only the model call is
  timed (tokenization is the same for all variants and done beforehand).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ftpipe import ROOT
from ftpipe.evaluation.metrics import calibration, paired_delta_ci, prediction_metrics


def predict_all(predictor, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Calibrated class probabilities for all texts."""
    out = [predictor.probabilities(predictor.encode(texts[i:i + batch_size]))
           for i in range(0, len(texts), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, len(predictor.labels)))


def peak_rss_mb() -> float:
    """This process's resident-memory high-water mark. VmHWM, not ru_maxrss: Linux carries a forked
    parent's peak into ru_maxrss of the child even across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def score_variant(directory: Path, texts: list[str], labels: list[int], threads: int, bins: int) -> dict:
    """Size, accuracy, macro-F1, ECE (with the variant's own temperature), predictions (for agreement and the
    paired comparison) and this process's peak RSS."""
    from ftpipe.compression.bundle import model_size_mb
    from ftpipe.compression.predictor import Predictor

    predictor = Predictor(directory, threads=threads)
    probs = predict_all(predictor, texts)
    predictions = probs.argmax(axis=1)
    return {"size_mb": model_size_mb(Path(directory)), **prediction_metrics(np.asarray(labels), predictions),
            "ece": calibration(np.asarray(labels), probs, bins)[0], "temperature": predictor.temperature,
            "peak_rss_mb": peak_rss_mb(), "predictions": predictions.tolist()}


def score_isolated(directory: Path, texts: list[str], labels: list[int], threads: int, bins: int) -> dict:
    """`score_variant` in a fresh Python process with the thread count pinned in its environment."""
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"directory": str(directory), "texts": texts, "labels": labels, "threads": threads,
                                   "bins": bins}))
        repo = str(ROOT)  # so the child imports this very package
        env = os.environ | {"OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false",
                            "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([sys.executable, "-m", "ftpipe.compression.measure", str(job)], env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"scoring {directory} failed: {done.stderr.strip().splitlines()[-1:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def interleaved_timings(predictors: dict, texts: list[str], batch_size: int, warmup: int, repeats: int
                        ) -> dict[str, dict[str, float]]:
    """Per variant: p50/p95 ms per call and texts/s. Each round times every variant once on the same
    batch (test texts in order), the variant order rotating between rounds."""
    names = list(predictors)
    starts = [(i * batch_size) % max(1, len(texts) - batch_size + 1) for i in range(warmup + repeats)]
    encoded = {n: [p.encode(texts[s:s + batch_size]) for s in starts] for n, p in predictors.items()}
    seconds: dict[str, list[float]] = {n: [] for n in names}
    for step in range(warmup + repeats):
        for name in names[step % len(names):] + names[:step % len(names)]:
            start = time.perf_counter()
            predictors[name].logits(encoded[name][step])
            if step >= warmup:
                seconds[name].append(time.perf_counter() - start)
    return {n: {f"latency_p50_ms_b{batch_size}": 1000 * float(np.percentile(s, 50)),
                f"latency_p95_ms_b{batch_size}": 1000 * float(np.percentile(s, 95)),
                f"throughput_b{batch_size}": batch_size * len(s) / sum(s)} for n, s in seconds.items()}


def measure_all(dirs: dict[str, Path], texts: list[str], labels: list[int], settings: dict,
                isolated: bool = True) -> dict[str, dict]:
    """Scoring then interleaved timing for every variant directory; settings: threads, warmup,
    repeats, batch_sizes, bins (of the calibration error)."""
    from ftpipe.compression.predictor import Predictor

    threads = int(settings["threads"])
    score = score_isolated if isolated else score_variant
    results = {n: score(d, texts, labels, threads, int(settings["bins"])) | {"threads": threads}
               for n, d in dirs.items()}
    if not isolated:
        for r in results.values():
            r["peak_rss_mb"] = None  # one shared process: not attributable to a variant
    predictors = {n: Predictor(d, threads=threads) for n, d in dirs.items()}
    for batch_size in settings["batch_sizes"]:
        timings = interleaved_timings(predictors, texts, int(batch_size), int(settings["warmup"]),
                                      int(settings["repeats"]))
        for name, figures in timings.items():
            results[name] |= figures
    return results


def relative_to_reference(results: dict[str, dict], facts: dict[str, dict], labels: list[int], samples: int,
                          seed: int, reference: str = "fp32") -> None:
    """Add each variant's build facts and its figures against the reference: deltas (accuracy with its paired
    bootstrap interval over the same texts), speed-up, size ratio, and agreement (the share of test texts it
    labels as the reference does); the raw predictions are dropped."""
    ref, y = results[reference], np.asarray(labels)
    ref_correct = np.asarray(ref["predictions"]) == y
    for name, r in results.items():
        r |= facts.get(name, {})
        r["delta_accuracy"] = r["accuracy"] - ref["accuracy"]
        if samples:
            r["delta_accuracy_ci95"] = paired_delta_ci(np.asarray(r["predictions"]) == y, ref_correct, samples, seed)
        r["delta_macro_f1"] = r["macro_f1"] - ref["macro_f1"]
        r["delta_ece"] = round(r["ece"] - ref["ece"], 6)
        r["speedup_b1"] = ref["latency_p50_ms_b1"] / r["latency_p50_ms_b1"]
        r["size_ratio"] = ref["size_mb"] / r["size_mb"]
    ref_preds = ref["predictions"]
    for r in results.values():
        r["agreement"] = sum(a == b for a, b in zip(r.pop("predictions"), ref_preds)) / len(ref_preds)


if __name__ == "__main__":
    job = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps(score_variant(Path(job["directory"]), job["texts"], job["labels"], job["threads"], job["bins"])))
