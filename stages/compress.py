"""Compress stage: build INT8 / ONNX / distilled variants of models/finetuned, measure them alike,
ship the fastest within the accuracy gate to deploy/ and register it in MLflow.

    python -m stages.compress        (reads params.yaml, key `compress`; FTPIPE_PARAMS overrides the path)
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import torch
from omegaconf import OmegaConf

from stages.compressors.runtime import Predictor, encode
from stages.compressors import bundle, deploy, distill, gate, measure, onnx_export, quantize, report
from stages.core import tracking
from stages.core.config import flatten, load_params
from stages.core.errors import PipelineError, run_stage
from stages.core.io import atomic_path, write_csv, write_json
from stages.core.logs import get_logger
from stages.core.seeding import seed_everything

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


def read_split(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise PipelineError(f"{path}: split not found (run the data stage first)")
    frame = pd.read_parquet(path)
    if not {"text", "label"} <= set(frame.columns):
        raise PipelineError(f"{path}: needs columns 'text' and 'label', has {list(frame.columns)}")
    return frame


def load_teacher(directory: Path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if not (directory / "config.json").is_file():
        raise PipelineError(f"{directory}/config.json: fine-tuned model not found (run the train stage first)")
    model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return model, AutoTokenizer.from_pretrained(directory), labels


def pick_onnx_int8(root: Path, name: str, source: Path, c, new_bundle, measure_fn, reference_acc) -> dict:
    """Build QInt8 and QUInt8 (or the configured one), keep the faster within the gate as `name`."""
    types = ["QInt8", "QUInt8"] if c.onnx.weight_type == "auto" else [c.onnx.weight_type]
    tried = {t: measure_fn(new_bundle(root / f"{name}_{t}", "onnx", onnx_export.quantize_onnx(source, t))) for t in types}
    ok = [t for t in types if tried[t]["accuracy"] >= reference_acc - c.max_accuracy_drop] or types
    best = min(ok, key=lambda t: tried[t]["latency_p50_ms_b1"])
    for t in types:
        if t == best:
            (root / f"{name}_{t}").rename(root / name)
        else:
            shutil.rmtree(root / f"{name}_{t}")
    log.info("%s: weight type %s chosen (p50 b1 ms: %s)", name, best,
             {t: round(r["latency_p50_ms_b1"], 2) for t, r in tried.items()})
    return tried[best] | {"weight_type": best, "weight_type_trials": {t: {k: r[k] for k in ("accuracy", "latency_p50_ms_b1")} for t, r in tried.items()}}


def main() -> None:
    cfg = load_params()
    c = cfg.compress
    names = checked_variants(c.variants)
    teacher, tokenizer, labels = load_teacher(MODEL_DIR)
    test = read_split(TEST).head(c.latency.get("max_test_rows") or None)
    texts, y = test.text.astype(str).tolist(), test.label.astype(int).tolist()
    seed_everything(int(cfg.seed))
    torch.set_num_threads(int(c.threads))
    max_length = int(c.get("max_length") or cfg.model.max_length)
    settings = {"threads": int(c.threads), "warmup": int(c.latency.warmup), "repeats": int(c.latency.repeats),
                "batch_sizes": list(c.latency.batch_sizes)}
    run_measure = measure.measure_isolated if c.latency.get("isolate", True) else measure.measure_variant
    results: dict[str, dict] = {}

    with atomic_path(OUT_DIR, is_dir=True) as root:  # a failed run keeps the previous variants
        def new_bundle(path, fmt, writer, **extra):
            return bundle.write_bundle(path, fmt, writer, tokenizer, labels, max_length, **extra)

        def measured(path: Path) -> dict:
            log.info("measuring %s", path.name)
            return run_measure(path, texts, y, settings)

        results["fp32"] = measured(new_bundle(root / "fp32", "hf", bundle.save_hf(teacher)))
        reference_acc = results["fp32"]["accuracy"]
        if "torch_int8" in names:
            quantized = quantize.torch_int8(teacher, embeddings=bool(c.torch_int8.embeddings))
            results["torch_int8"] = measured(new_bundle(root / "torch_int8", "torch_int8", quantize.save_torch_int8(
                quantized), embeddings=bool(c.torch_int8.embeddings)))
        if {"onnx_fp32", "onnx_int8"} & set(names):
            sample = encode(tokenizer, texts[:2], max_length)
            onnx_dir = new_bundle(root / "onnx_fp32", "onnx", onnx_export.export_onnx(teacher, sample, int(c.onnx.opset), c.onnx.exporter))
            check = Predictor(onnx_dir, threads=int(c.threads))
            diff = onnx_export.max_abs_diff(teacher, check, [check.encode(texts[i:i + 32]) for i in (0, 32)])
            log.info("ONNX export vs PyTorch: max abs logit diff %.2e on 2 test batches", diff)
            if diff > float(c.onnx.tolerance):
                raise PipelineError(f"compress.onnx.tolerance: exported graph differs from PyTorch by {diff:.2e}")
            if "onnx_fp32" in names:
                results["onnx_fp32"] = measured(onnx_dir) | {"export_max_abs_diff": diff}
            if "onnx_int8" in names:
                results["onnx_int8"] = pick_onnx_int8(root, "onnx_int8", onnx_dir / onnx_export.FILE, c, new_bundle, measured, reference_acc)
            if "onnx_fp32" not in names:
                shutil.rmtree(onnx_dir)
        if "distilled" in names:
            d = c.distill
            train = read_split(AUGMENTED if AUGMENTED.is_file() and cfg.get("augment", {}).get("enabled", True) else TRAIN)
            train = train.head(d.get("max_train_rows") or None)
            student = distill.make_student(teacher, int(d.layers))
            log.info("distilling %d -> %d layers on %d rows", teacher.config.num_hidden_layers, int(d.layers), len(train))
            losses = distill.train_student(student, teacher, tokenizer, train.text.astype(str).tolist(),
                                           train.label.astype(int).tolist(), d, int(cfg.seed))
            student.eval()
            results["distilled"] = measured(new_bundle(root / "distilled", "hf", bundle.save_hf(student))) | {
                "distill_first_loss": losses[0], "distill_last_loss": losses[-1]}
            if d.get("quantize_student", False):
                sample = encode(tokenizer, texts[:2], max_length)
                exported = new_bundle(  # only the source for int8
                    root / "distilled_onnx", "onnx", onnx_export.export_onnx(student, sample, int(c.onnx.opset), c.onnx.exporter))
                results["distilled_onnx_int8"] = pick_onnx_int8(root, "distilled_onnx_int8", exported / onnx_export.FILE, c, new_bundle, measured, reference_acc)
                shutil.rmtree(exported)

        reference_preds = results["fp32"]["predictions"]
        for r in results.values():
            r["delta_accuracy"] = r["accuracy"] - reference_acc
            r["delta_macro_f1"] = r["macro_f1"] - results["fp32"]["macro_f1"]
            r["agreement"] = sum(a == b for a, b in zip(r.pop("predictions"), reference_preds)) / len(reference_preds)
            r["speedup_b1"] = results["fp32"]["latency_p50_ms_b1"] / r["latency_p50_ms_b1"]
            r["size_ratio"] = results["fp32"]["size_mb"] / r["size_mb"]
        winner, reason = gate.choose(results, float(c.max_accuracy_drop))
        deploy.ship(root / winner, DEPLOY_DIR)

    log.info("compression results (model call only, %d threads, %d test texts):\n%s", settings["threads"],
             len(texts), report.table(results, winner))
    log.info("shipping %s: %s", winner, reason)
    summary = {"shipped": winner, "reason": reason, "max_accuracy_drop": float(c.max_accuracy_drop),
               "settings": settings, "test_rows": len(texts), "variants": results}
    write_json(METRICS, summary)
    write_csv(PLOT_DATA, report.plot_rows(results))
    report.plot_tradeoff(results, reference_acc - float(c.max_accuracy_drop), winner, PLOT_PNG)

    import mlflow

    with tracking.resume_run(cfg):
        mlflow.log_params({f"compress.{k}": v for k, v in flatten(OmegaConf.to_container(c)).items()})
        mlflow.log_metrics({f"compress.{n}.{k}": float(v) for n, r in results.items() for k, v in r.items()
                            if isinstance(v, (int, float))})
        mlflow.set_tags({"compress.shipped": winner, "compress.reason": reason[:5000]})
        for path in (METRICS, PLOT_DATA, PLOT_PNG):
            mlflow.log_artifact(str(path), artifact_path="compression")
        tags = {"variant": winner, **{k: f"{results[winner][k]:.6g}" for k in (
            "accuracy", "macro_f1", "delta_accuracy", "latency_p50_ms_b1", "size_mb")}}
        info = deploy.log_and_register(DEPLOY_DIR, c.registry.model_name if c.registry.enabled else None, tags)
        log.info("deploy/ logged as %s%s", info.model_uri,
                 f"; registered {c.registry.model_name} v{info.registered_model_version}" if c.registry.enabled else "")


if __name__ == "__main__":
    run_stage(main)
