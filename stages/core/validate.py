"""Early checks of config values, so a typo fails in the first second with the key named, not an hour in.

Each stage calls the checks for the groups it reads before touching data or models.
"""
from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from .errors import PipelineError

OPTIMIZERS = ("adamw", "sgd", "rmsprop")
# schedules that step once per optimiser step without a metric (reduce_lr_on_plateau needs one)
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
              "inverse_sqrt")
# metrics where higher is better: early stopping keeps the epoch with the largest value
STOP_METRICS = ("accuracy", "macro_f1")


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


def check_model(model: DictConfig) -> None:
    number(model.max_length, "model.max_length", 8, integer=True)
    for key in ("hidden_dropout", "attention_dropout"):
        number(model.get(key), f"model.{key}", 0, 1, high_open=True, optional=True)


def check_train(train: DictConfig) -> None:
    """What `runtime.check_train_config` does not cover already."""
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
