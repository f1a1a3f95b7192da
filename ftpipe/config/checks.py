"""Checks of params.yaml, one function per section, so a typo fails in the first second with the key named.

`load_params` runs the check of every section present; nothing else in the project re-checks a value.
The option lists here (optimisers, methods, variants, augmenters) are the only copies: the code that
acts on them imports them from here.
"""
from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from ftpipe.config.hydra_plugins.ftpipe_resolvers import dvc_dep
from ftpipe.infra.errors import PipelineError

OPTIMIZERS = ("adamw", "sgd", "rmsprop")
# schedules that step once per optimiser step without a metric (reduce_lr_on_plateau needs one)
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
              "inverse_sqrt")
# metrics where higher is better: early stopping keeps the epoch with the largest value
STOP_METRICS = ("accuracy", "macro_f1")
PRECISIONS = ("fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
METHODS = ("full", "lora", "prompt_tuning", "head_only")
AUGMENTERS = ("synonym", "backtranslation")
VARIANTS = ("fp32", "torch_int8", "onnx_fp32", "onnx_int8", "distilled")  # fp32 is the reference, always built


def number(value: Any, key: str, low: float | None = None, high: float | None = None, *, integer: bool = False,
           low_open: bool = False, high_open: bool = False, optional: bool = False) -> None:
    """Raise a PipelineError naming `key` unless `value` is a number in the given range."""
    if value is None and optional:
        return
    kinds = (int,) if integer else (int, float)
    ok = isinstance(value, kinds) and not isinstance(value, bool)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        what = "an integer" if integer else "a number"
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
        bounds = " and ".join(b for b in (lo, hi) if b)
        raise PipelineError(f"{key}: must be {what}{' ' + bounds if bounds else ''}"
                            f"{' or null' if optional else ''}, got {value!r}; fix it in conf/ or with -S {key}=...")


def choice(value: Any, key: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise PipelineError(f"{key}: unknown value {value!r}; use one of {', '.join(options)}")


def check_data(data: DictConfig) -> None:
    choice(data.format, "data.format", ("auto", "csv", "jsonl", "parquet"))
    choice(data.unicode_form, "data.unicode_form", ("NFC", "NFKC", "NFD", "NFKD"))
    choice(data.on_split_overlap, "data.on_split_overlap", ("error", "drop_from_train"))
    number(data.split.validation, "data.split.validation", 0, 1, low_open=True, high_open=True)
    number(data.split.test, "data.split.test", 0, 1, low_open=True, high_open=True)
    if data.split.validation + data.split.test >= 1:
        raise PipelineError(f"data.split: validation + test = {data.split.validation + data.split.test:g} leaves "
                            f"nothing to train on; keep their sum below 1 (e.g. 0.1 each)")
    number(data.min_chars, "data.min_chars", 0, integer=True)
    number(data.max_chars, "data.max_chars", max(data.min_chars, 1) if isinstance(data.min_chars, int) else 1,
           integer=True)
    number(data.get("max_rows"), "data.max_rows", 10, integer=True, optional=True)
    sep = data.get("csv_sep")
    if sep is not None and not (isinstance(sep, str) and len(sep) == 1):
        raise PipelineError(f"data.csv_sep: must be one character (',' ';' '\\t' '|') or null to sniff, got {sep!r}")
    if data.text_column == data.label_column:
        raise PipelineError(f"data.text_column and data.label_column are both '{data.text_column}'; "
                            f"they must name different columns")
    check_dvc_deps(data)


def check_dvc_deps(data: DictConfig) -> None:
    """`data.dvc_deps` (what dvc.yaml hashes for clean) must match the paths it is derived from; a params.yaml
    edited by hand, or composed before the key existed, would let DVC skip an edited source."""
    deps = data.get("dvc_deps")
    for key in ("path", "validation_path", "test_path"):
        wanted = dvc_dep(data.get(key))
        if deps is None or deps.get(key) != wanted:
            have = None if deps is None else deps.get(key)
            raise PipelineError(f"data.dvc_deps.{key}: is {have!r} but data.{key} needs {wanted!r}; params.yaml was "
                                f"not composed from conf/: recompose it (`make params` or `dvc exp run`)")


def check_model(model: DictConfig) -> None:
    number(model.max_length, "model.max_length", 8, integer=True)
    for key in ("hidden_dropout", "attention_dropout"):
        number(model.get(key), f"model.{key}", 0, 1, high_open=True, optional=True)


def augmenter_names(value: Any) -> list[str]:
    """`augment.augmenters`: a list, a `synonym+backtranslation` string, or empty/None for no augmentation."""
    if value is None or value == "none":
        return []
    items = value.split("+") if isinstance(value, str) else list(value)
    names = [str(item).strip() for item in items if str(item).strip()]
    for i, name in enumerate(names):
        if name not in AUGMENTERS:
            raise PipelineError(f"augment.augmenters[{i}]: unknown augmenter '{name}' (known: {', '.join(AUGMENTERS)})")
    if len(set(names)) != len(names):
        raise PipelineError(f"augment.augmenters: {names} lists an augmenter twice")
    return names


def check_augment(augment: DictConfig) -> None:
    augmenter_names(augment.get("augmenters"))
    number(augment.get("min_ascii_letter_share", 0.9), "augment.min_ascii_letter_share", 0, 1)
    number(augment.get("sample_size", 20), "augment.sample_size", 0, integer=True)


def check_method(method: DictConfig | None, train: DictConfig) -> None:
    """`train.method`: a known name, its own knobs in range, no full-only freezing knobs with another method."""
    name = (method or {}).get("name", "full")
    if name not in METHODS:
        raise PipelineError(f"train.method.name: unknown method {name!r} (use {', '.join(METHODS)})")
    if name != "full":
        for key in ("freeze_embeddings", "freeze_layers", "gradual_unfreezing"):
            if train.get(key):
                raise PipelineError(f"train.{key}: only for train.method=full; {name} chooses what trains itself")
    positive = {"lora": ("r", "alpha"), "prompt_tuning": ("num_virtual_tokens",)}.get(name, ())
    for key in positive:
        if not isinstance(method.get(key), int) or method[key] < 1:
            raise PipelineError(f"train.method.{key}: must be a positive integer, got {method.get(key)!r}")
    if name == "lora":
        if not 0 <= method.dropout < 1:
            raise PipelineError(f"train.method.dropout: must be in [0, 1), got {method.dropout}")
        if not method.target_modules:
            raise PipelineError("train.method.target_modules: name at least one module (e.g. [query, value])")
    lr = (method or {}).get("lr")
    if lr is not None and not (isinstance(lr, (int, float)) and lr > 0):
        raise PipelineError(f"train.method.lr: must be a positive number or null, got {lr!r}")


def check_train(train: DictConfig) -> None:
    for key in ("epochs", "batch_size", "eval_batch_size", "grad_accum_steps"):
        if not isinstance(train[key], int) or isinstance(train[key], bool) or train[key] < 1:
            raise PipelineError(f"train.{key}: must be a positive integer, got {train[key]!r}")
    nproc = train.get("nproc", 1)  # absent from a params.yaml composed before DDP
    if not isinstance(nproc, int) or isinstance(nproc, bool) or nproc < 1:
        raise PipelineError(f"train.nproc: must be a positive integer (processes on this machine), got {nproc!r}")
    if not (isinstance(train.lr, (int, float)) and not isinstance(train.lr, bool) and train.lr > 0):
        raise PipelineError(f"train.lr: must be a positive number, got {train.lr!r}")
    number(train.layerwise_lr_decay, "train.layerwise_lr_decay", 0, 1, low_open=True)
    choice(train.nonfinite_loss, "train.nonfinite_loss", ("stop", "skip"))
    choice(train.precision, "train.precision", PRECISIONS)
    choice(train.device, "train.device", DEVICES)
    choice(train.optimizer, "train.optimizer", OPTIMIZERS)
    choice(train.scheduler, "train.scheduler", SCHEDULERS)
    number(train.warmup_ratio, "train.warmup_ratio", 0, 1, high_open=True)
    number(train.weight_decay, "train.weight_decay", 0)
    number(train.momentum, "train.momentum", 0, 1, high_open=True)
    number(train.max_grad_norm, "train.max_grad_norm", 0, low_open=True, optional=True)
    number(train.freeze_layers, "train.freeze_layers", 0, integer=True)
    number(train.log_every_steps, "train.log_every_steps", 1, integer=True)
    number(train.checkpoint.every_steps, "train.checkpoint.every_steps", 1, integer=True)
    number(train.checkpoint.keep, "train.checkpoint.keep", 1, integer=True)
    choice(train.early_stopping.metric, "train.early_stopping.metric", STOP_METRICS)
    number(train.early_stopping.patience, "train.early_stopping.patience", 1, integer=True)
    number(train.early_stopping.threshold, "train.early_stopping.threshold", 0)
    number(train.get("num_threads"), "train.num_threads", 1, integer=True, optional=True)
    check_method(train.get("method"), train)


def check_evaluate(evaluate: DictConfig) -> None:
    number(evaluate.calibration_bins, "evaluate.calibration_bins", 1, integer=True)
    number(evaluate.worst_examples, "evaluate.worst_examples", 0, integer=True)


def compress_variants(names: Any) -> list[str]:
    """`compress.variants` in build order, fp32 (the reference) first and always."""
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise PipelineError(f"compress.variants: unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    return ["fp32"] + [n for n in VARIANTS[1:] if n in names]


def check_compress(compress: DictConfig) -> None:
    compress_variants(compress.variants)
    number(compress.max_accuracy_drop, "compress.max_accuracy_drop", 0, 1)
    number(compress.threads, "compress.threads", 1, integer=True)
    number(compress.get("max_length"), "compress.max_length", 8, integer=True, optional=True)
    number(compress.latency.warmup, "compress.latency.warmup", 0, integer=True)
    number(compress.latency.repeats, "compress.latency.repeats", 1, integer=True)
    number(compress.distill.layers, "compress.distill.layers", 1, integer=True)
    number(compress.distill.temperature, "compress.distill.temperature", 0, low_open=True)
    number(compress.distill.alpha, "compress.distill.alpha", 0, 1)
    number(compress.distill.epochs, "compress.distill.epochs", 1, integer=True)
    number(compress.distill.lr, "compress.distill.lr", 0, low_open=True)
    number(compress.distill.batch_size, "compress.distill.batch_size", 1, integer=True)
    number(compress.distill.max_length, "compress.distill.max_length", 8, integer=True)


SECTIONS = {"data": check_data, "model": check_model, "augment": check_augment, "train": check_train,
            "evaluate": check_evaluate, "compress": check_compress}


def check_params(cfg: DictConfig) -> None:
    """Every section's check, for the sections present (a stage's tests may compose only what it reads)."""
    if "seed" in cfg:
        number(cfg.seed, "seed", integer=True)
    for section, check in SECTIONS.items():
        if cfg.get(section) is not None:
            check(cfg[section])
