"""compress: dynamic INT8 quantization of the fine-tuned model, measured next to fp32.

Writes `models/compressed/torch_int8/` and `metrics/compression.json` (test accuracy, file size,
batch-1 latency per variant); logs them to the model's MLflow run.
"""
from __future__ import annotations

import time
import warnings

import mlflow
import numpy as np
import torch

from stages.core.batching import collate, load_tokenized
from stages.core.config import load_params
from stages.core.errors import PipelineError, run_stage
from stages.core.evaluation import classification_metrics, predict_probs
from stages.core.io import atomic_path, read_json, write_json
from stages.core.logs import get_logger
from stages.core.modeling import file_size, load_classifier, load_tokenizer
from stages.core.tracking import resume_run

MODEL_DIR, OUT_DIR, TEST_IDS, METRICS = "models/finetuned", "models/compressed", "data/tokenized/test.parquet", \
    "metrics/compression.json"
log = get_logger("compress")


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Linear layers to qint8 weights with dynamic activation scales (torch.ao, still the CPU path)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


@torch.inference_mode()
def latency_ms(model, ids: list[list[int]], pad_id: int, warmup: int, repeats: int) -> dict[str, float]:
    """p50/p95 milliseconds for single-text batches over the first `repeats` test texts."""
    model.eval()
    times = []
    for i in range(warmup + repeats):
        batch = collate(ids, np.array([i % len(ids)]), pad_id)
        start = time.perf_counter()
        model(**batch)
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000)
    return {"latency_p50_ms": round(float(np.percentile(times, 50)), 3),
            "latency_p95_ms": round(float(np.percentile(times, 95)), 3)}


def main() -> None:
    cfg = load_params()
    unknown = set(cfg.compress.variants) - {"fp32", "torch_int8"}
    if unknown:
        raise PipelineError(f"compress.variants: unknown variant(s) {sorted(unknown)} (use fp32, torch_int8)")
    torch.set_num_threads(cfg.compress.threads)
    names = read_json(f"{MODEL_DIR}/labels.json")["names"]
    tokenizer, fp32 = load_tokenizer(MODEL_DIR), load_classifier(MODEL_DIR, names)
    ids, labels = load_tokenized(TEST_IDS)
    variants = {"fp32": (fp32, file_size(f"{MODEL_DIR}/model.safetensors"))}
    if "torch_int8" in cfg.compress.variants:
        int8 = quantize_int8(fp32)
        with atomic_path(f"{OUT_DIR}/torch_int8", is_dir=True) as out:
            torch.save(int8.state_dict(), out / "model_int8.pt")
            tokenizer.save_pretrained(out)
        variants["torch_int8"] = (int8, file_size(f"{OUT_DIR}/torch_int8/model_int8.pt"))
    report = {}
    for name, (model, size) in variants.items():
        probs = predict_probs(model, ids, cfg.train.eval_batch_size, torch.device("cpu"), tokenizer.pad_token_id)
        report[name] = {**classification_metrics(labels, probs), "size_mb": round(size / 2**20, 2),
                        **latency_ms(model, ids, tokenizer.pad_token_id, cfg.compress.latency_warmup,
                                     cfg.compress.latency_repeats)}
        log.info("%-10s %s", name, report[name])
    report["threads"] = cfg.compress.threads
    write_json(METRICS, report)
    with resume_run(cfg):
        mlflow.log_metrics({f"compress.{v}.{k}": x for v, m in report.items() if isinstance(m, dict)
                            for k, x in m.items()})
        mlflow.log_artifact(METRICS, "compress")


if __name__ == "__main__":
    run_stage(main)
