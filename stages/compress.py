"""Compress stage: build INT8 / ONNX / distilled variants of models/finetuned, measure them alike,
ship the fastest within the accuracy gate to deploy/ and register it in MLflow.

    python -m stages.compress        (reads params.yaml, key `compress`; FTPIPE_PARAMS overrides the path)
"""
from __future__ import annotations

import os

from pathlib import Path

import torch
from omegaconf import OmegaConf

from stages.compressors import deploy, gate, measure, report, variants
from stages.core import tracking
from stages.core.config import flatten, load_params
from stages.core.errors import PipelineError, run_stage
from stages.core.peft_methods import with_saved_adapter
from stages.core.io import atomic_path, write_csv, write_json
from stages.core.logs import get_logger
from stages.core.seeding import seed_everything
from stages.core.tables import read_split

MODEL_DIR, OUT_DIR, DEPLOY_DIR = Path("models/finetuned"), Path("models/compressed"), Path("deploy")
TEST, TRAIN, AUGMENTED = Path("data/clean/test.parquet"), Path("data/clean/train.parquet"), Path("data/augmented/train.parquet")
METRICS, PLOT_DATA, PLOT_PNG = Path("metrics/compression.json"), Path("plots/compression.csv"), Path("reports/compression_tradeoff.png")
KNOWN = ("fp32", "torch_int8", "onnx_fp32", "onnx_int8", "distilled")
log = get_logger("compress")


def checked_variants(names) -> list[str]:
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        raise PipelineError(f"compress.variants: unknown variant(s) {unknown}; known: {list(KNOWN)}")
    return ["fp32"] + [n for n in KNOWN[1:] if n in names]  # fp32 is the reference, always measured


def load_teacher(directory: Path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

    if not (directory / "config.json").is_file():
        raise PipelineError(f"{directory}/config.json: fine-tuned model not found (run the train stage first)")
    # an unmerged LoRA adapter saved beside the base weights is merged here, so every variant includes it
    model = with_saved_adapter(AutoModelForSequenceClassification.from_pretrained(directory), directory).eval()
    if not isinstance(model, PreTrainedModel):
        raise PipelineError(f"{directory}: a {type(model).__name__} (train.method=prompt_tuning) cannot be exported "
                            "or distilled; set train.method.merge=true or use lora/full")
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return model, AutoTokenizer.from_pretrained(directory), labels


def main() -> None:
    cfg = load_params()
    c = cfg.compress
    names = checked_variants(c.variants)
    teacher, tokenizer, labels = load_teacher(MODEL_DIR)
    test = read_split(TEST).head(c.latency.get("max_test_rows") or None)
    texts, y = test.text.astype(str).tolist(), test.label.astype(int).tolist()
    # distillation trains on the augmented split when the augment stage produced one
    use_augmented = AUGMENTED.is_file() and cfg.get("augment", {}).get("enabled", True)
    train = read_split(AUGMENTED if use_augmented else TRAIN) if "distilled" in names else None
    seed_everything(int(cfg.seed))
    # building variants (distillation is training) uses every core; measuring uses the fixed count
    torch.set_num_threads(cfg.train.get("num_threads") or os.cpu_count())
    settings = {"threads": int(c.threads), "warmup": int(c.latency.warmup), "repeats": int(c.latency.repeats),
                "batch_sizes": [int(b) for b in c.latency.batch_sizes]}
    max_drop = float(c.max_accuracy_drop)

    with atomic_path(OUT_DIR, is_dir=True) as root:  # a failed run keeps the previous variants
        dirs, facts = variants.build_variants(names, teacher, tokenizer, labels, texts, cfg, root, train)
        torch.set_num_threads(int(c.threads))
        log.info("measuring %s (%d test texts, %d threads)", list(dirs), len(texts), settings["threads"])
        results = measure.measure_all(dirs, texts, y, settings, isolated=bool(c.latency.get("isolate", True)))
        floor = results["fp32"]["accuracy"] - max_drop - gate.EPS
        for name in ("onnx_int8", "distilled_onnx_int8"):
            if any(k.startswith(f"{name}[") for k in results):
                variants.keep_best_weight_type(results, root, name, floor)
        reference, reference_preds = results["fp32"], results["fp32"]["predictions"]
        for name, r in results.items():
            r |= facts.get(name, {})
            r["delta_accuracy"] = r["accuracy"] - reference["accuracy"]
            r["delta_macro_f1"] = r["macro_f1"] - reference["macro_f1"]
            r["speedup_b1"] = reference["latency_p50_ms_b1"] / r["latency_p50_ms_b1"]
            r["size_ratio"] = reference["size_mb"] / r["size_mb"]
        for r in results.values():
            r["agreement"] = sum(a == b for a, b in zip(r.pop("predictions"), reference_preds)) / len(reference_preds)
        winner, reason = gate.choose(results, max_drop)
        deploy.ship(root / winner, DEPLOY_DIR)

    log.info("results (model call only; batch-1 p50/p95 latency, batch-32 throughput):\n%s", report.table(results, winner))
    log.info("shipping %s: %s", winner, reason)
    write_json(METRICS, {"shipped": winner, "reason": reason, "max_accuracy_drop": max_drop, "test_rows": len(texts),
                         "settings": settings, "variants": results})
    write_csv(PLOT_DATA, report.plot_rows(results))
    report.plot_tradeoff(results, reference["accuracy"] - max_drop, winner, PLOT_PNG)
    log_to_mlflow(cfg, results, winner, reason)


def log_to_mlflow(cfg, results: dict[str, dict], winner: str, reason: str) -> None:
    """Figures, plot and report into the model's run; deploy/ as a registered pyfunc."""
    import mlflow

    c = cfg.compress
    with tracking.resume_run(cfg):
        # a dict artifact, not params: MLflow refuses to change a param when compress reruns in the same run
        mlflow.log_dict(flatten(OmegaConf.to_container(c)), "compression/config.json")
        mlflow.log_metrics({f"compress.{n}.{k}": float(v) for n, r in results.items() for k, v in r.items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool)})
        mlflow.set_tags({"compress.shipped": winner, "compress.reason": reason[:5000]})
        for path in (METRICS, PLOT_DATA, PLOT_PNG):
            mlflow.log_artifact(str(path), artifact_path="compression")
        tags = {"variant": winner, **{k: f"{results[winner][k]:.6g}" for k in (
            "accuracy", "macro_f1", "delta_accuracy", "latency_p50_ms_b1", "size_mb")}}
        name = c.registry.model_name if c.registry.enabled else None
        info = deploy.log_and_register(DEPLOY_DIR, name, tags)
        log.info("deploy/ logged as %s%s", info.model_uri, f"; registered {name} v{info.registered_model_version}" if name else "")


if __name__ == "__main__":
    run_stage(main)
