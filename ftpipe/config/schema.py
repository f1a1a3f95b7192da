"""The one typed schema of params.yaml: every key, its type and range, and each section's cross-key rules.

`validate(cfg)` runs at the start of every stage (config.params.load_params), so a params.yaml composed by
`make params`, by `dvc exp run -S` (DVC's own Hydra) or edited by hand is checked the same way. A refusal is
one line naming the key, what it expects and what it got; an unknown key (a typo, or one added with Hydra's
`+`) is refused with the closest known key. Types are strict: the string 'false' is not a boolean, a single
value is not a list, a string is not a number.

Each section is a dataclass; a field without a default must be present, one with a default may be absent.
`Bounds` in a field's metadata gives its numeric range; a section's `check(key)` holds the rules that
involve several keys. The option lists (OPTIMIZERS, METHODS, ...) are the project's only copies.
"""
from __future__ import annotations

import codecs
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from ftpipe.config.hydra_plugins.ftpipe_resolvers import dvc_dep
from ftpipe.infra.errors import PipelineError

OPTIMIZERS = ("adamw", "sgd", "rmsprop")
# schedules that step once per optimiser step without a metric (reduce_lr_on_plateau needs one)
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
              "inverse_sqrt")
STOP_METRICS = ("accuracy", "macro_f1")  # higher is better: early stopping keeps the largest
METHODS = ("full", "lora", "prompt_tuning", "head_only")
AUGMENTERS = ("synonym", "backtranslation")
# label values read as missing (data.missing_labels' default): the markers pandas reads as missing
MISSING_MARKERS = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                   "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")
VARIANTS = ("fp32", "torch_int8", "onnx_fp32", "onnx_int8", "distilled")  # fp32 is the reference, always built


@dataclass(frozen=True)
class Bounds:
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def text(self, integer: bool) -> str:
        """'a positive integer', 'a number >= 0 and < 1', ..."""
        if self.high is None and self.low == (1 if integer else 0) and self.low_open != integer:
            return "a positive integer" if integer else "a positive number"
        kind = "an integer" if integer else "a number"
        parts = [f"{'>' if self.low_open else '>='} {self.low}" if self.low is not None else "",
                 f"{'<' if self.high_open else '<='} {self.high}" if self.high is not None else ""]
        return f"{kind} {' and '.join(p for p in parts if p)}".rstrip()


def num(low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False,
        default: Any = dataclasses.MISSING) -> Any:
    """A numeric field with a range (and, optionally, a default that makes it optional)."""
    return field(default=default, metadata={"bounds": Bounds(low, high, low_open, high_open)})


# ---- the sections ---------------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class Split:
    validation: float = num(0, 1, low_open=True, high_open=True)  # shares of the pool
    test: float = num(0, 1, low_open=True, high_open=True)


@dataclass(kw_only=True)
class DvcDeps:
    path: str
    validation_path: str
    test_path: str


@dataclass(kw_only=True)
class DataAudit:
    enabled: bool
    folds: int = num(2)
    top: int = num(0)
    max_rows: int | None = num(10)


@dataclass(kw_only=True)
class Data:
    path: str
    validation_path: str | None
    test_path: str | None
    format: Literal["auto", "csv", "jsonl", "parquet"]
    csv_sep: str | None
    encoding: str
    text_column: str
    label_column: str
    drop_labels: list[str | int]
    missing_labels: list[str] | None = None  # None: MISSING_MARKERS
    label_map: dict[str | int, str | int] | None = None
    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD"]
    strip_html: bool
    lowercase: bool
    min_chars: int = num(0)
    max_chars: int = num(1)
    max_rows: int | None = num(10)
    split: Split
    on_split_overlap: Literal["error", "drop_from_train"]
    # absent in a params.yaml composed before the label audit existed: no audit, nothing dropped
    audit: DataAudit = field(default_factory=lambda: DataAudit(enabled=False, folds=5, top=100, max_rows=None))
    drop_suspected_label_errors: bool = False
    dvc_deps: DvcDeps
    seed: int = num(0, default=42)  # split, sampling, audit folds and augmentation; absent from an older params.yaml
    max_train_rows: int | None = num(2, default=None)  # a stratified cut of the train split alone (low-data runs)

    def check(self, key: str) -> None:
        if self.split.validation + self.split.test >= 1:
            raise PipelineError(f"{key}.split: validation + test = {self.split.validation + self.split.test:g} "
                                f"leaves nothing to train on; keep their sum below 1 (e.g. 0.1 each)")
        if self.max_chars < max(self.min_chars, 1):
            raise PipelineError(f"{key}.max_chars: must be at least data.min_chars ({self.min_chars}), "
                                f"got {self.max_chars}")
        if self.csv_sep is not None and len(self.csv_sep) != 1:
            raise PipelineError(f"{key}.csv_sep: must be one character (',' ';' '\\t' '|') or null to sniff, "
                                f"got {self.csv_sep!r}")
        if self.text_column == self.label_column:
            raise PipelineError(f"{key}.text_column and {key}.label_column are both '{self.text_column}'; "
                                f"they must name different columns")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise PipelineError(f"{key}.encoding: unknown encoding {self.encoding!r}; use a Python codec name such as "
                                f"utf-8, utf-16, latin-1 or cp1252") from None
        if self.drop_suspected_label_errors and not self.audit.enabled:
            raise PipelineError(f"{key}.drop_suspected_label_errors: true needs the label audit; set "
                                f"{key}.audit.enabled=true or drop_suspected_label_errors=false")
        if self.audit.max_rows is not None and self.audit.max_rows < 2 * self.audit.folds:
            raise PipelineError(f"{key}.audit.max_rows: {self.audit.max_rows} rows cannot fill "
                                f"{key}.audit.folds={self.audit.folds} folds of two classes; raise it or set null")
        if (self.validation_path is None) != (self.test_path is None):
            raise PipelineError(f"{key}.validation_path and {key}.test_path: give both or neither")
        for name in ("path", "validation_path", "test_path"):  # what dvc.yaml hashes must follow the paths
            wanted, have = dvc_dep(getattr(self, name)), getattr(self.dvc_deps, name)
            if have != wanted:
                raise PipelineError(f"{key}.dvc_deps.{name}: is {have!r} but {key}.{name} needs {wanted!r}; "
                                    f"params.yaml was not composed from conf/: recompose it (`make params` or "
                                    f"`dvc exp run`)")


@dataclass(kw_only=True)
class Model:
    name_or_path: str
    max_length: int = num(8)
    max_unk_share: float = num(0, 1, default=0.05)
    hidden_dropout: float | None = num(0, 1, high_open=True, default=None)
    attention_dropout: float | None = num(0, 1, high_open=True, default=None)
    reinit_head: bool = False


@dataclass(kw_only=True)
class Synonym:
    """augment.synonym; a key left out takes the augmenter's default (as in conf/augment/synonym.yaml)."""
    copies: int = num(1, default=1)
    aug_p: float = num(0, 1, low_open=True, default=0.1)
    aug_min: int = num(0, default=1)
    aug_max: int = num(1, default=10)
    stopwords: list[str] = field(default_factory=list)
    tagger: str | None = None
    batch_size: int = num(1, default=256)


@dataclass(kw_only=True)
class Marian:
    forward: str = "Helsinki-NLP/opus-mt-{source}-{pivot}"
    backward: str = "Helsinki-NLP/opus-mt-{pivot}-{source}"
    num_beams: int = num(1, default=1)
    device: str | None = None


@dataclass(kw_only=True)
class Backtranslation:
    """augment.backtranslation; a key left out takes the augmenter's default (conf/augment/backtranslation.yaml)."""
    source_lang: str = "en"
    pivots: list[str] = field(default_factory=list)
    backend: Literal["apertium", "marian"] = "apertium"
    batch_size: int = num(1, default=512)
    marian: Marian | None = None


@dataclass(kw_only=True)
class Augment:
    augmenters: list[str] | str | None
    labels: list[str | int] | str | None = None
    require_english: bool = True
    min_ascii_letter_share: float = num(0, 1, default=0.9)
    sample_size: int = num(0, default=20)
    synonym: Synonym | None = None
    backtranslation: Backtranslation | None = None

    def check(self, key: str) -> None:
        names = augmenter_names(self.augmenters)
        if "backtranslation" in names and not (self.backtranslation and self.backtranslation.pivots):
            raise PipelineError(f"{key}.backtranslation.pivots: give at least one pivot language, e.g. [es]")
        if isinstance(self.labels, str) and self.labels != "minority":
            raise PipelineError(f"{key}.labels: use null, a list of labels, or minority; got {self.labels!r}")


@dataclass(kw_only=True)
class EarlyStopping:
    metric: Literal["accuracy", "macro_f1"]
    patience: int = num(1)
    threshold: float = num(0)


@dataclass(kw_only=True)
class Checkpoint:
    every_steps: int = num(1)
    keep: int = num(1)


@dataclass(kw_only=True)
class Method:
    """`train.method`: which weights train. The keys beyond name and lr belong to one method each."""
    name: Literal["full", "lora", "prompt_tuning", "head_only"]
    lr: float | None = num(0, low_open=True, default=None)  # this method's own peak lr (null: train.lr)
    r: int | None = num(1, default=None)                     # lora
    alpha: int | None = num(1, default=None)                 # lora
    dropout: float | None = num(0, 1, high_open=True, default=None)  # lora
    target_modules: list[str] | None = None                  # lora
    modules_to_save: list[str] | None = None                 # lora
    merge: bool | None = None                                # lora
    num_virtual_tokens: int | None = num(1, default=None)    # prompt_tuning

    OWN_KEYS = {"lora": ("r", "alpha", "dropout", "target_modules", "modules_to_save", "merge"),
                "prompt_tuning": ("num_virtual_tokens",)}

    def check(self, key: str) -> None:
        own = self.OWN_KEYS.get(self.name, ())
        for other, keys in self.OWN_KEYS.items():
            for k in keys:
                if other != self.name and k not in own and getattr(self, k) is not None:
                    raise PipelineError(f"{key}.{k}: belongs to train.method={other}, not {self.name}; remove it "
                                        f"or choose train/method={other}")
        required = {"lora": ("r", "alpha", "dropout", "target_modules"),
                    "prompt_tuning": ("num_virtual_tokens",)}.get(self.name, ())
        for k in required:
            if getattr(self, k) is None:
                raise PipelineError(f"{key}.{k}: missing for train.method={self.name}; choose the method with "
                                    f"-S train/method={self.name} (conf/train/method/)")
        if self.name == "lora" and not self.target_modules:
            raise PipelineError(f"{key}.target_modules: name at least one module (e.g. [query, value])")


@dataclass(kw_only=True)
class Train:
    method: Method | None = None  # absent in a params.yaml composed before methods existed: full
    epochs: int = num(1)
    batch_size: int = num(1)
    grad_accum_steps: int = num(1)
    eval_batch_size: int = num(1)
    lr: float = num(0, low_open=True)
    weight_decay: float = num(0)
    optimizer: Literal["adamw", "sgd", "rmsprop"] = "adamw"
    momentum: float = num(0, 1, high_open=True)
    scheduler: Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
                       "constant_with_warmup", "inverse_sqrt"] = "linear"
    warmup_ratio: float = num(0, 1, high_open=True)
    max_grad_norm: float | None = num(0, low_open=True)
    layerwise_lr_decay: float = num(0, 1, low_open=True)
    freeze_embeddings: bool = False
    freeze_layers: int = num(0)
    gradual_unfreezing: bool = False
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int | None = num(1)
    nproc: int = num(1, default=1)
    length_bucketing: bool = True
    evals_per_epoch: int = num(1, default=1)  # absent in a params.yaml composed before it: once, at the end
    early_stopping: EarlyStopping
    checkpoint: Checkpoint
    nonfinite_loss: Literal["stop", "skip"] = "stop"
    log_every_steps: int = num(1)
    temperature_scaling: bool = True
    # absent in a params.yaml composed before losses existed: the plain cross-entropy
    loss: Literal["cross_entropy", "focal", "label_smoothing"] = "cross_entropy"
    class_weights: Literal["none", "balanced"] = "none"
    focal_gamma: float = num(0, default=2.0)
    label_smoothing: float = num(0, 1, high_open=True, default=0.1)

    def check(self, key: str) -> None:
        name = self.method.name if self.method else "full"
        if name != "full":
            for k in ("freeze_embeddings", "freeze_layers", "gradual_unfreezing"):
                if getattr(self, k):
                    raise PipelineError(f"{key}.{k}: only for train.method=full; {name} chooses what trains itself")


def train_setting(train: Any, key: str) -> Any:
    """`train.<key>`, or this schema's default where a params.yaml composed before the key existed lacks it."""
    return train.get(key, next(f.default for f in dataclasses.fields(Train) if f.name == key))


@dataclass(kw_only=True)
class Baseline:
    enabled: bool
    min_margin: float = num(-1, 1)


@dataclass(kw_only=True)
class Evaluate:
    calibration_bins: int = num(1)
    worst_examples: int = num(0)
    bootstrap_samples: int = num(0)
    baseline: Baseline


@dataclass(kw_only=True)
class Latency:
    warmup: int = num(0)
    repeats: int = num(1)
    throughput_warmup: int | None = num(0, default=None)
    throughput_repeats: int | None = num(2, default=None)
    batch_sizes: list[int] = field(default_factory=lambda: [1, 32])
    max_test_rows: int | None = num(1, default=None)
    isolate: bool = True


@dataclass(kw_only=True)
class TorchInt8:
    embeddings: bool


@dataclass(kw_only=True)
class Onnx:
    opset: int = num(13)
    exporter: Literal["dynamo", "legacy"] = "dynamo"
    tolerance: float = num(0, low_open=True)
    weight_type: Literal["auto", "QInt8", "QUInt8"] = "auto"
    per_channel: bool = True


@dataclass(kw_only=True)
class Distill:
    layers: int = num(1)
    temperature: float = num(0, low_open=True)
    alpha: float = num(0, 1)
    epochs: int = num(1)
    lr: float = num(0, low_open=True)
    batch_size: int = num(1)
    max_length: int = num(8)
    max_train_rows: int | None = num(1)
    freeze_embeddings: bool = False
    quantize_student: bool = True


@dataclass(kw_only=True)
class Registry:
    enabled: bool
    model_name: str


@dataclass(kw_only=True)
class Compress:
    variants: list[Literal["fp32", "torch_int8", "onnx_fp32", "onnx_int8", "distilled"]]
    max_accuracy_drop: float = num(0, 1)
    max_ece_increase: float | None = num(0, 1)
    threads: int = num(1)
    max_length: int | None = num(8)
    latency: Latency
    torch_int8: TorchInt8
    onnx: Onnx
    distill: Distill
    registry: Registry


@dataclass(kw_only=True)
class Mlflow:
    tracking_uri: str
    experiment: str
    run_name: str | None
    log_model: bool
    fallback_to_local: bool
    system_metrics: int | None = num(1, default=10)
    artifact_location: str | None = None


@dataclass(kw_only=True)
class Params:
    data: Data
    model: Model
    augment: Augment
    train: Train
    evaluate: Evaluate
    compress: Compress
    mlflow: Mlflow
    seed: int = num(0, 2**32 - 1)


# ---- helpers that read a checked value ------------------------------------------------------------------------
def augmenter_names(value: Any) -> list[str]:
    """`augment.augmenters`: a list, a `synonym+backtranslation` string, or empty/None/`none` for none."""
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


def compress_variants(names: list[str]) -> list[str]:
    """`compress.variants` in build order, fp32 (the reference) first and always."""
    return ["fp32"] + [n for n in VARIANTS[1:] if n in names]


# ---- the validator --------------------------------------------------------------------------------------------
def check_section(name: str, section: Any) -> None:
    """Check one top-level section (a DictConfig or a dict), e.g. `check_section("train", cfg.train)`."""
    from omegaconf import DictConfig, OmegaConf

    raw = OmegaConf.to_container(section, resolve=True) if isinstance(section, DictConfig) else section
    validate({name: raw}, sections=(name,))


def validate(raw: dict[str, Any], sections: tuple[str, ...] | None = None) -> None:
    """Check `raw` (params.yaml as plain Python) against `Params`; raise one PipelineError for the first problem.

    `sections` limits the check to those top-level keys (for tests that compose part of a config); None checks
    the whole file, unknown top-level keys included.
    """
    if sections is None:
        _check(Params, raw, "")
        return
    hints = typing.get_type_hints(Params)
    for name in sections:
        if name in raw:
            _check(hints[name], raw[name], name)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, list):
        return f"a list {value!r}"[:80]
    if isinstance(value, dict):
        return f"a mapping with keys {sorted(map(str, value))}"[:80]
    return f"a {type(value).__name__}"


def _expected(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        return "true or false (unquoted)"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is list:
        return "a list like [a, b]"
    if origin is dict:
        return "a mapping like {a: b}"
    if origin in (Union, types.UnionType):
        return " or ".join(_expected(a) for a in args)
    if dataclasses.is_dataclass(tp):
        return "a mapping of keys"
    if tp is type(None):
        return "null"
    return str(tp)


def _fits(tp: Any, value: Any) -> bool:
    """Whether `value` is of type `tp` (shallow for lists of literals: their items are checked by _check)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is Literal:
        return value in args
    if origin is list:
        return isinstance(value, list) and all(_fits(args[0], v) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_fits(args[0], k) and _fits(args[1], v) for k, v in value.items())
    if origin in (Union, types.UnionType):
        return any(_fits(a, value) for a in args)
    if dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    return False


def _check(tp: Any, value: Any, key: str) -> None:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise PipelineError(f"{key}: expected a mapping of keys, got {_describe(value)}")
        _check_section(tp, value, key)
        return
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return
        for arg in args:  # the first alternative whose shape fits is checked in depth
            if arg is not type(None) and _fits(arg, value):
                _check(arg, value, key)
                return
    elif origin is list and isinstance(value, list):
        for i, item in enumerate(value):
            _check(args[0], item, f"{key}[{i}]")
        return
    elif origin is Literal and isinstance(value, str) and all(isinstance(a, str) for a in args):
        if value not in args:
            raise PipelineError(f"{key}: unknown value {value!r}; use one of {', '.join(args)}")
        return
    elif _fits(tp, value):
        return
    hint = ""
    if tp is bool or (origin in (Union, types.UnionType) and bool in args):
        hint = "; write true or false without quotes"
    elif origin is list or (origin in (Union, types.UnionType) and any(typing.get_origin(a) is list for a in args)):
        hint = f"; a single value is written as a list of one: [{value}]" if not isinstance(value, list) else ""
    raise PipelineError(f"{key}: expected {_expected(tp)}, got {_describe(value)}{hint}; fix it in conf/ or "
                        f"with -S {key}=...")


def _check_section(cls: type, value: dict[str, Any], key: str) -> None:
    prefix = f"{key}." if key else ""
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    for name in value:
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
            hint = f"; did you mean {prefix}{close[0]}?" if close else f"; known keys: {', '.join(known)}"
            raise PipelineError(f"{prefix}{name}: unknown key{hint} (a key added with `+` or a typo is refused, "
                                f"not ignored)")
    for f in dataclasses.fields(cls):
        if f.name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise PipelineError(f"{prefix}{f.name}: missing from params.yaml; recompose it from conf/ "
                                    f"(`make params`)")
            continue
        _check(hints[f.name], value[f.name], f"{prefix}{f.name}")
        bounds = f.metadata.get("bounds")
        item = value[f.name]
        if bounds is not None and item is not None and not bounds.holds(item):
            optional = " or null" if type(None) in typing.get_args(hints[f.name]) else ""
            raise PipelineError(f"{prefix}{f.name}: must be {bounds.text(_strip_optional(hints[f.name]) is int)}"
                                f"{optional}, got {item!r}; fix it in conf/ or with -S {prefix}{f.name}=...")
    check = getattr(cls, "check", None)
    if check is not None:
        check(_build(cls, value), key)


def _strip_optional(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if typing.get_origin(tp) in (Union, types.UnionType) and len(args) == 1 else tp


def _build(cls: type, value: dict[str, Any]) -> Any:
    """An instance of the (already checked) section, nested sections built too, for its `check`."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in value:
            continue
        inner, item = _strip_optional(hints[f.name]), value[f.name]
        kwargs[f.name] = _build(inner, item) if dataclasses.is_dataclass(inner) and isinstance(item, dict) else item
    return cls(**kwargs)
