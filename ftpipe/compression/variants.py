"""Build the variants' directories from the fine-tuned teacher, and settle the ONNX int8 weight type by measurement."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ftpipe.compression import bundle, distill, onnx_export, quantize
from ftpipe.compression.predictor import Predictor, encode
from ftpipe.evaluation.metrics import fit_temperature
from ftpipe.infra.errors import PipelineError
from ftpipe.infra.logs import get_logger
from ftpipe.training.methods import with_saved_adapter

log = get_logger("compress")


def use_training_threads(cfg) -> None:
    """Building variants (distillation is training) uses every core, or train.num_threads where that pins it."""
    torch.set_num_threads(cfg.train.get("num_threads") or os.cpu_count())


def onnx_int8_candidates(root: Path, name: str, source: Path, c, new_bundle) -> dict[str, Path]:
    """QInt8 and QUInt8 builds (or only the configured type); the measurement decides between them."""
    types = ["QInt8", "QUInt8"] if c.onnx.weight_type == "auto" else [c.onnx.weight_type]
    return {f"{name}[{t}]": new_bundle(root / f"{name}_{t}", "onnx",
                                       onnx_export.quantize_onnx(source, t, bool(c.onnx.per_channel)))
            for t in types}


def keep_best_weight_type(results: dict, root: Path, name: str, passes) -> None:
    """Collapse `name[QInt8]` / `name[QUInt8]` into `name`: the faster within the gate (else the more
    accurate), its directory renamed to `name`; the trial figures stay in the result."""
    tried = {k[len(name) + 1:-1]: results.pop(k) for k in list(results) if k.startswith(f"{name}[")}
    ok = [t for t, r in tried.items() if passes(r)] or [max(tried, key=lambda t: tried[t]["accuracy"])]
    best = min(ok, key=lambda t: tried[t]["latency_p50_ms_b1"])
    for t in tried:
        if t == best:
            (root / f"{name}_{t}").rename(root / name)
        else:
            shutil.rmtree(root / f"{name}_{t}")
    results[name] = tried[best] | {"weight_type": best, "weight_type_trials": {
        t: {k: r[k] for k in ("accuracy", "latency_p50_ms_b1", "throughput_b32") if k in r} for t, r in tried.items()}}
    log.info("%s: %s chosen; p50 ms at batch 1: %s", name, best,
             {t: round(r["latency_p50_ms_b1"], 2) for t, r in tried.items()})


def build_variants(names: list[str], teacher, tokenizer, labels, texts, cfg, root: Path, train,
                   temperature: float, validation) -> tuple[dict, dict]:
    """Write each variant's directory under `root`; returns ({name: dir}, {name: build facts}).
    `train` (text, label) feeds distillation; `texts` are test texts for the export check. Variants of the teacher
    ship its `temperature`; a distilled student gets its own, fitted on `validation` (text, label)."""
    c = cfg.compress
    max_length = int(c.get("max_length") or cfg.model.max_length)
    shipped_temperature = temperature

    def new_bundle(path, fmt, writer, **extra):
        return bundle.write_bundle(path, fmt, writer, tokenizer, labels, max_length,
                                   **{"temperature": shipped_temperature, **extra})

    def exported(model, path):
        """ONNX bundle of `model`, checked against PyTorch on two real test batches."""
        out = new_bundle(path, "onnx", onnx_export.export_onnx(model, encode(tokenizer, texts[:2], max_length),
                                                               int(c.onnx.opset), c.onnx.exporter))
        check = Predictor(out, threads=int(c.threads))
        batches = [check.encode(texts[i:i + 32]) for i in (0, 32) if texts[i:i + 32]]
        diff = onnx_export.max_abs_diff(model, check, batches)
        log.info("%s: ONNX vs PyTorch max abs logit diff %.2e on 2 test batches", path.name, diff)
        if diff > float(c.onnx.tolerance):
            raise PipelineError(f"compress.onnx.tolerance: {path.name} differs from PyTorch by {diff:.2e}")
        return out, {"export_max_abs_diff": diff}

    dirs = {"fp32": new_bundle(root / "fp32", "hf", bundle.save_hf(teacher))}
    facts: dict[str, dict] = {}
    if "torch_int8" in names:
        embeddings = bool(c.torch_int8.embeddings)
        dirs["torch_int8"] = new_bundle(root / "torch_int8", "torch_int8", quantize.save_torch_int8(
            quantize.torch_int8(teacher, embeddings)), embeddings=embeddings)
    if {"onnx_fp32", "onnx_int8"} & set(names):
        onnx_dir, facts["onnx_fp32"] = exported(teacher, root / "onnx_fp32")
        if "onnx_int8" in names:
            dirs |= onnx_int8_candidates(root, "onnx_int8", onnx_dir / onnx_export.FILE, c, new_bundle)
        if "onnx_fp32" in names:
            dirs["onnx_fp32"] = onnx_dir
        else:
            shutil.rmtree(onnx_dir)
    if "distilled" in names:
        d = c.distill
        train = train.head(d.get("max_train_rows") or None)
        use_training_threads(cfg)  # the export checks above pinned measurement's thread count
        student = distill.make_student(teacher, int(d.layers))
        log.info("distilling %d -> %d layers on %d rows", teacher.config.num_hidden_layers, int(d.layers), len(train))
        losses = distill.train_student(student, teacher, tokenizer, train.text.astype(str).tolist(),
                                       train.label.astype(int).tolist(), d, int(cfg.seed))
        student.eval()
        if temperature != 1.0:  # scaling is on: the student is calibrated on validation like its teacher was
            shipped_temperature = student_temperature(student, tokenizer, validation, max_length)
            log.info("distilled: temperature %.4f (fitted on %d validation texts)", shipped_temperature,
                     len(validation))
        dirs["distilled"] = new_bundle(root / "distilled", "hf", bundle.save_hf(student))
        facts["distilled"] = {"layers": int(d.layers), "train_rows": len(train), "first_loss": losses[0],
                              "last_loss": losses[-1], "mean_loss_last_10pct": float(
                                  pd.Series(losses).tail(max(1, len(losses) // 10)).mean())}
        if d.get("quantize_student", False):
            student_onnx, _ = exported(student, root / "distilled_onnx")
            dirs |= onnx_int8_candidates(root, "distilled_onnx_int8", student_onnx / onnx_export.FILE, c, new_bundle)
            shutil.rmtree(student_onnx)  # only the source of the int8 student
    return dirs, facts


@torch.inference_mode()
def student_temperature(model, tokenizer, validation, max_length: int) -> float:
    texts, labels = validation.text.astype(str).tolist(), validation.label.astype(int).to_numpy()
    logits = [model(**{k: torch.from_numpy(v) for k, v in encode(tokenizer, texts[i:i + 64], max_length).items()}
                    ).logits.float().numpy() for i in range(0, len(texts), 64)]
    return fit_temperature(labels, np.concatenate(logits))


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
