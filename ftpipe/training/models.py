"""Load tokenizers and sequence classifiers by HF name or local path, with clear errors."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ftpipe.config.params import resolve_resource
from ftpipe.infra.errors import PipelineError


def model_source(model_cfg: DictConfig) -> str:
    """A local directory (also from `pkg://`), or a hub name passed through unchanged."""
    spec = str(model_cfg.name_or_path)
    path = resolve_resource(spec, "model.name_or_path")
    if spec.startswith("pkg://") or path.exists() or spec.startswith((".", "/")):
        if not path.exists():
            raise PipelineError(f"model.name_or_path: {path} does not exist; give a model directory or a hub name")
        if not (path / "config.json").is_file():
            raise PipelineError(f"model.name_or_path: {path} is not a model directory (no config.json)")
        return str(path)
    return spec  # a hub id such as bert-base-uncased


def _hub_hint(source: str, exc: Exception) -> PipelineError:
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    why = "the hub is offline (HF_HUB_OFFLINE=1)" if offline else type(exc).__name__
    return PipelineError(f"model.name_or_path: cannot load '{source}' ({why}); give a local directory "
                         f"or a hub name reachable from here")


# files one of which a saved tokenizer has (save_pretrained writes tokenizer.json for every fast tokenizer)
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model")


def load_tokenizer(source: str) -> Any:
    """The fast tokenizer of a hub name or a local folder; a folder without tokenizer files is refused (what
    `model.save_pretrained()` alone leaves, which would tokenize every word to the unknown token)."""
    from transformers import AutoTokenizer

    folder = Path(source)
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise PipelineError(f"model.name_or_path: {folder} holds no tokenizer files (none of "
                            f"{', '.join(TOKENIZER_FILES)}); save the model's tokenizer beside it "
                            f"(tokenizer.save_pretrained('{folder}'))")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
    except (OSError, ValueError) as exc:
        raise _hub_hint(source, exc) from None
    if not tokenizer.is_fast:
        raise PipelineError(f"model.name_or_path: '{source}' has no fast tokenizer (tokenizer.json)")
    return tokenizer


def check_vocabulary(tokenizer: Any, source: str) -> None:
    """The tokenizer must be the model's: ids beyond the embedding table fail, far fewer mean another vocabulary."""
    from transformers import AutoConfig

    vocab_size = getattr(AutoConfig.from_pretrained(source), "vocab_size", None)
    if vocab_size and not vocab_size // 2 <= len(tokenizer) <= vocab_size:
        raise PipelineError(f"model.name_or_path: {source}'s tokenizer has {len(tokenizer)} tokens but the model's "
                            f"embeddings have {vocab_size}; the tokenizer is not this model's: save the model's own "
                            f"tokenizer in the folder")


def load_classifier(source: str, label_names: list[str], model_cfg: DictConfig | None = None) -> Any:
    """A sequence classifier with a head sized for `label_names`; dropout from config when given."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise _hub_hint(source, exc) from None
    reinit = bool(model_cfg.get("reinit_head", False)) if model_cfg is not None else False
    has_head = any("SequenceClassification" in a for a in (config.architectures or []))
    if has_head and config.num_labels != len(label_names) and not reinit:
        raise PipelineError(f"model.name_or_path: '{source}' has a classifier head for {config.num_labels} labels "
                            f"but the data has {len(label_names)}; set model.reinit_head=true to replace the head")
    extra: dict[str, Any] = {}
    if model_cfg is not None:
        for key, attr in (("hidden_dropout", "hidden_dropout_prob"),
                          ("attention_dropout", "attention_probs_dropout_prob")):
            if model_cfg.get(key) is not None and hasattr(config, attr):
                extra[attr] = float(model_cfg[key])
    config.update({"num_labels": len(label_names), "id2label": dict(enumerate(label_names)),
                   "label2id": {n: i for i, n in enumerate(label_names)}, **extra})
    try:
        model = AutoModelForSequenceClassification.from_pretrained(source, config=config,
                                                                   ignore_mismatched_sizes=reinit)
    except Exception as exc:  # missing or corrupt weight files come as several exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = "set model.reinit_head=true to replace its head" if "mismatch" in first.lower() \
            else "check that the directory holds the model's weights (e.g. model.safetensors)"
        raise PipelineError(f"model.name_or_path: '{source}' cannot be loaded as a classifier with "
                            f"{len(label_names)} labels ({first}); {hint}") from None
    from ftpipe.training.methods import with_saved_adapter  # a saved unmerged adapter (train.method) is applied

    return with_saved_adapter(model, source)


def file_size(path: str | Path) -> int:
    """Bytes on disk of a file or a whole directory."""
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


CALIBRATION = "calibration.json"  # beside a saved model: the temperature its logits are divided by


def read_temperature(directory: str | Path) -> float:
    """The temperature saved with a model by train (1.0 when it has none: a model saved without scaling)."""
    import json

    path = Path(directory) / CALIBRATION
    if not path.is_file():
        return 1.0
    try:
        temperature = float(json.loads(path.read_text())["temperature"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"{path}: unreadable ({exc}); rerun `dvc repro train`") from None
    if not temperature > 0:
        raise PipelineError(f"{path}: temperature must be > 0, got {temperature}; rerun `dvc repro train`")
    return temperature
