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
    """Calibrated class probabilities for all texts, in their order. Batches are of texts of similar length, so
    little of each is padding (the texts' order only sets how much work is wasted, not the predictions)."""
    lengths = [len(ids) for ids in predictor.tokenizer(list(texts), truncation=True,
                                                        max_length=predictor.max_length)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    probs = np.zeros((len(texts), len(predictor.labels)))
    for i in range(0, len(texts), batch_size):
        rows = order[i:i + batch_size]
        probs[rows] = predictor.probabilities(predictor.encode([texts[r] for r in rows]))
    return probs


def peak_rss_mb() -> float:
    """This process's resident-memory high-water mark. VmHWM, not ru_maxrss: Linux carries a forked
    parent's peak into ru_maxrss of the child even across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def score_variant(directory: Path, texts: list[str], labels: list[int], bins: int) -> dict:
    """Size, accuracy, macro-F1, ECE (with the variant's own temperature), predictions (for agreement and the
    paired comparison) and this process's peak RSS. Scoring is not timed, so it may use every core."""
    from ftpipe.compression.bundle import model_size_mb
    from ftpipe.compression.predictor import Predictor

    predictor = Predictor(directory)  # the process's thread count: every core in a fresh one
    probs = predict_all(predictor, texts)
    predictions = probs.argmax(axis=1)
    return {"size_mb": model_size_mb(Path(directory)), **prediction_metrics(np.asarray(labels), predictions),
            "ece": calibration(np.asarray(labels), probs, bins)[0], "temperature": predictor.temperature,
            "peak_rss_mb": peak_rss_mb(), "predictions": predictions.tolist()}


def score_isolated(directory: Path, texts: list[str], labels: list[int], bins: int) -> dict:
    """`score_variant` in a fresh Python process on every core, as a deployed `predict.py` runs."""
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"directory": str(directory), "texts": texts, "labels": labels, "bins": bins}))
        repo = str(ROOT)  # so the child imports this very package
        env = os.environ | {"OMP_NUM_THREADS": str(os.cpu_count() or 1), "TOKENIZERS_PARALLELISM": "false",
                            "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([sys.executable, "-m", "ftpipe.compression.measure", str(job)], env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"scoring {directory} failed: {done.stderr.strip().splitlines()[-1:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def interleaved_timings(predictors: dict, texts: list[str], batch_size: int, warmup: int, repeats: int
                        ) -> dict[str, dict]:
    """Per variant: p50/p95 ms per call and texts/s, with 95 % intervals. Each round times every variant once on
    the same batch (test texts in order), the variant order rotating between rounds."""
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
    b = batch_size
    return {n: {f"latency_p50_ms_b{b}": 1000 * float(np.percentile(s, 50)),
                f"latency_p50_ms_b{b}_ci95": [1000 * x for x in median_ci(s)],
                f"latency_p95_ms_b{b}": 1000 * float(np.percentile(s, 95)),
                f"throughput_b{b}": b * len(s) / sum(s),
                f"throughput_b{b}_ci95": throughput_ci(b, s),
                f"timed_calls_b{b}": len(s)} for n, s in seconds.items()}


def median_ci(values: list[float]) -> list[float]:
    """A distribution-free 95 % interval for the median: the order statistics whose ranks bound it with 95 %
    binomial probability (normal approximation); with few values, the whole range."""
    v, n = np.sort(values), len(values)
    half = 1.96 * np.sqrt(n) / 2
    low, high = max(0, int(np.floor(n / 2 - half)) - 1), min(n - 1, int(np.ceil(n / 2 + half)))
    return [float(v[low]), float(v[high])]


def mean_ci(values: list[float]) -> list[float]:
    """Student's t 95 % interval for the mean (a throughput is texts over the mean seconds per call)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return [float(v.mean())] * 2
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return [float(v.mean() - half), float(v.mean() + half)]


def throughput_ci(batch_size: int, seconds: list[float]) -> list[float | None]:
    """Texts/s over the mean call's 95 % interval; None for an unbounded end (a few wild calls can put the mean's
    lower bound at or below zero)."""
    low, high = mean_ci(seconds)
    return [batch_size / high, batch_size / low if low > 0 else None]


def measure_all(dirs: dict[str, Path], texts: list[str], labels: list[int], settings: dict,
                isolated: bool = True) -> dict[str, dict]:
    """Scoring then interleaved timing for every variant directory; settings: threads (of the timing), warmup and
    repeats (at batch 1), throughput_warmup and throughput_repeats (at larger batches, where a call costs ~30
    batch-1 calls: fewer of them, a wider interval, reported), batch_sizes, bins (of the calibration error)."""
    from ftpipe.compression.predictor import Predictor

    threads = int(settings["threads"])
    score = score_isolated if isolated else score_variant
    results = {n: score(d, texts, labels, int(settings["bins"])) | {"threads": threads}
               for n, d in dirs.items()}
    if not isolated:
        for r in results.values():
            r["peak_rss_mb"] = None  # one shared process: not attributable to a variant
    predictors = {n: Predictor(d, threads=threads) for n, d in dirs.items()}
    for batch_size in map(int, settings["batch_sizes"]):
        timings = interleaved_timings(predictors, texts, batch_size, _calls(settings, "warmup", batch_size),
                                      _calls(settings, "repeats", batch_size))
        for name, figures in timings.items():
            results[name] |= figures
    return results


def _calls(settings: dict, name: str, batch_size: int) -> int:
    """`warmup` or `repeats` at batch 1; `throughput_<name>` at larger batches where it is set."""
    wide = settings.get(f"throughput_{name}") if batch_size > 1 else None
    return int(settings[name] if wide is None else wide)


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
    print(json.dumps(score_variant(Path(job["directory"]), job["texts"], job["labels"], job["bins"])))
