"""What makes a run recognisable in the MLflow UI: its name, its description, its datasets, its git and DVC state.

The description is the run's markdown note (`mlflow.note.content`), built in sections: train writes the data and
the recipe, evaluate the test results, compress the shipped variant. Each stage replaces only its own section.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig

from ftpipe.config.params import resolve_resource

NOTE_TAG = "mlflow.note.content"
# written by the pipeline itself: a fresh clone's first run rewrites them before train starts
MANAGED = ("dvc.lock", "params.yaml", "metrics/", "plots/", "reports/", "models/", "deploy/", "mlflow.db")
GENERIC_DIRS = {"model", "models", "checkpoint", "checkpoints", "final", "best", "snapshot", "output"}
ORDER = ("Data", "Recipe", "Validation", "Test", "Shipped")  # the note's sections, in reading order


def data_label(cfg: DictConfig) -> str:
    """The training file's name without its suffixes (reviews.csv.bz2 -> reviews)."""
    return Path(str(cfg.data.path).split("@")[-1]).name.split(".")[0] or "data"


def model_label(name_or_path: str) -> str:
    """A model's short name: the hub name, or the folder, or the package when the folder is generic."""
    spec = re.sub(r"^pkg://", "", str(name_or_path)).rstrip("/")
    parts = [re.sub(r"@.*$", "", p) for p in spec.split("/") if p]
    while len(parts) > 1 and parts[-1].lower() in GENERIC_DIRS:
        parts.pop()
    return parts[-1] if parts else "model"


def run_name(cfg: DictConfig) -> str:
    """FTPIPE_RUN_NAME (a sweep's job), else mlflow.run_name, else `<data>-<model>-<method>-lr<lr>-s<seed>`."""
    given = os.environ.get("FTPIPE_RUN_NAME") or cfg.mlflow.get("run_name")
    if given:
        return given
    train = cfg.train
    lr = train.method.get("lr") or train.lr
    return f"{data_label(cfg)}-{model_label(cfg.model.name_or_path)}-{train.method.name}-lr{lr:g}-s{cfg.seed}"


def git_state(root: Path = Path(".")) -> dict[str, str]:
    """git.commit, and git.dirty counting only files a person edited (not those the pipeline rewrites)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD").strip()
    changed = [line[3:].strip().split(" -> ")[-1] for line in git("status", "--porcelain", "--untracked-files=no")
               .splitlines() if line.strip()]
    edited = [p for p in changed if not p.startswith(MANAGED)]
    tags = {"git.commit": commit or "unknown", "git.dirty": str(bool(edited)).lower()}
    if edited:
        tags["git.dirty_files"] = ", ".join(edited[:10]) + (", ..." if len(edited) > 10 else "")
    return tags


def dvc_lock(stages: list[str], lock_file: Path = Path("dvc.lock")) -> dict[str, Any]:
    """The dvc.lock entries (deps, params, outs with their hashes) of `stages`, as they are now."""
    if not lock_file.is_file():
        return {}
    locked = (yaml.safe_load(lock_file.read_text()) or {}).get("stages", {})
    return {s: locked[s] for s in stages if s in locked}


def log_datasets(cfg: DictConfig, splits: dict[str, Path]) -> None:
    """Each clean split as an MLflow dataset input (content digest, source file, context = split name)."""
    import mlflow
    import pandas as pd

    source = str(resolve_resource(cfg.data.path, "data.path"))
    label = data_label(cfg)
    for context, path in splits.items():
        frame = pd.read_parquet(path, columns=["text", "label"])
        dataset = mlflow.data.from_pandas(frame, source=source, targets="label", name=f"{label}-{context}")
        mlflow.log_input(dataset, context=context)


def set_note(sections: dict[str, str]) -> None:
    """Replace these sections of the active run's markdown description, keeping the others."""
    import mlflow

    run = mlflow.active_run()
    current = mlflow.get_run(run.info.run_id).data.tags.get(NOTE_TAG, "")
    parts = dict(re.findall(r"^### (\w+)\n(.*?)(?=^### |\Z)", current, flags=re.M | re.S))
    parts.update({k: v.strip() + "\n\n" for k, v in sections.items()})
    ordered = [k for k in ORDER if k in parts] + [k for k in parts if k not in ORDER]
    mlflow.set_tag(NOTE_TAG, "".join(f"### {k}\n{parts[k]}" for k in ordered).strip() + "\n")


def train_note(cfg: DictConfig, rows: dict[str, int], classes: list[str]) -> dict[str, str]:
    """The Data and Recipe sections of the description."""
    t = cfg.train
    sizes = ", ".join(f"{n:,} {split}" for split, n in rows.items())
    return {
        "Data": f"`{cfg.data.path}`: {sizes} rows; {len(classes)} classes ({', '.join(classes[:8])}"
                f"{', ...' if len(classes) > 8 else ''})",
        "Recipe": f"`{cfg.model.name_or_path}`, method {t.method.name}, {t.epochs} epochs, batch {t.batch_size}, "
                  f"lr {t.method.get('lr') or t.lr:g} ({t.scheduler}, warm-up {t.warmup_ratio:g}), "
                  f"{t.optimizer}, precision {t.precision}, seed {cfg.seed}",
    }
