"""A variant's directory: model files + tokenizer + labels + manifest + predict.py, usable on its own."""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from ftpipe.compression import predictor as runtime
from ftpipe.infra.io import atomic_path

RUNTIME_SOURCE = Path(runtime.__file__)


def write_bundle(dest: Path, fmt: str, write_model: Callable[[Path], list[str]], tokenizer, labels: list[str],
                 max_length: int, **manifest_extra) -> Path:
    """Write atomically: `write_model(tmp_dir)` saves the weights and returns their file names."""
    with atomic_path(dest, is_dir=True) as tmp:
        model_files = write_model(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / runtime.LABELS).write_text(json.dumps({"names": list(labels)}, indent=2) + "\n")
        manifest = {"format": fmt, "file": model_files[0], "model_files": model_files,
                    "max_length": int(max_length), **manifest_extra}
        (tmp / runtime.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.copyfile(RUNTIME_SOURCE, tmp / "predict.py")
    return dest


def model_size_mb(directory: Path) -> float:
    """Bytes of the model's own files (tokenizer and code are the same for every variant)."""
    manifest = json.loads((directory / runtime.MANIFEST).read_text())
    return sum((directory / name).stat().st_size for name in manifest["model_files"]) / 1e6


def save_hf(model) -> Callable[[Path], list[str]]:
    """Writer for a plain transformers model (safetensors + config)."""
    def write(tmp: Path) -> list[str]:
        model.save_pretrained(tmp)
        return sorted(p.name for p in tmp.iterdir() if p.suffix == ".safetensors") + ["config.json"]
    return write
