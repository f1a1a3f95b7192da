"""MLflow metric keys: `<group>/<name>`, the one naming of every figure a run logs.

MLflow's chart view makes one section per prefix and its column picker lists keys in order, so a group's
figures sit together: `test/` (the headline), `baseline/` (the TF-IDF floor), `shipped/` (the deployed variant),
`val/`, `train/`, `compress/<variant>/` and `data/<stage>/`. MLflow's own `system/` group sits beside them.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

# what a person looks for first; the README says how to show them as columns in the runs table
HEADLINE = ["test/accuracy", "test/macro_f1", "test/ece", "shipped/latency_p50_ms_b1", "shipped/delta_accuracy",
            "val/best_macro_f1", "train/seconds"]
RANK = "val/best_macro_f1"   # what sweeps rank on: validation, so the test split never chooses
SHIPPED = ("accuracy", "macro_f1", "delta_accuracy", "latency_p50_ms_b1", "latency_p95_ms_b1", "size_mb")


def _numbers(values: Mapping) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def test(report: Mapping) -> dict[str, float]:
    """metrics/metrics.json as `test/<metric>`, `test/<metric>_ci95_low|high`, `test/class/<label>/<metric>`,
    and the baseline beside it as `baseline/<metric>`."""
    classes = report.get("per_class", {})
    per_class = {f"class/{c}/{k}": v for c, m in zip(label_parts(list(classes)), classes.values())
                 for k, v in m.items()}
    values = {f"test/{k}": v for k, v in (_figures(report) | _numbers(per_class)).items()}
    return values | {f"baseline/{k}": v for k, v in _figures(report.get("baseline", {})).items()}


def _figures(report: Mapping) -> dict[str, float]:
    """A report's numbers, with its `ci95` intervals as `<metric>_ci95_low` and `<metric>_ci95_high`."""
    bounds = {f"{k}_ci95_{end}": v for k, pair in report.get("ci95", {}).items()
              for end, v in zip(("low", "high"), pair)}
    return _numbers(report) | _numbers(bounds)


def label_parts(names: list[str]) -> list[str]:
    """Each label as one key segment MLflow accepts (a label may be `c++`, `5★` or `a/b`)."""
    return _unique([_segment(n) for n in names])


def _segment(name: object) -> str:
    """Characters outside letters, digits and `_.- ` become `_`: MLflow refuses them, and `/` would nest."""
    return re.sub(r"[^\w.\- ]", "_", str(name)).strip(" .")


def _unique(parts: list[str]) -> list[str]:
    """A part left empty, or equal to an earlier one, gets its position: no figure overwrites another."""
    out, seen = [], set()
    for i, part in enumerate(parts):
        part = part if part and part not in seen else f"{part}_{i}".lstrip("_")
        seen.add(part)
        out.append(part)
    return out


def epoch(row: Mapping) -> dict[str, float]:
    """One epoch's curve point (`train_loss`, `val_accuracy`, ...) as `train/loss`, `val/accuracy`, ..."""
    return {_split_key(k): v for k, v in _numbers(row).items() if k != "epoch"}


def step(train_loss: float, lr: float) -> dict[str, float]:
    return {"train/step_loss": train_loss, "train/lr": lr}


def summary(report: Mapping) -> dict[str, float]:
    """metrics/train.json: the kept epoch's validation figures as `val/best_<metric>`, the cost as `train/<key>`."""
    values = _numbers(report)
    return {(f"val/best_{k[4:]}" if k.startswith("val_") else f"train/{k}"): v for k, v in values.items()}


def stage(name: str, flat: Mapping) -> dict[str, float]:
    """A data stage's report (flattened, dotted keys) as `data/<stage>/<key>`."""
    values = _numbers(flat)
    paths = _unique(["/".join(map(_segment, k.split("."))) for k in values])
    return {f"data/{name}/{p}": v for p, v in zip(paths, values.values())}


def compression(results: Mapping[str, Mapping], shipped: str) -> dict[str, float]:
    """Every variant as `compress/<variant>/<figure>`, and the shipped one's headline figures as `shipped/<figure>`."""
    values = {f"compress/{n}/{k}": v for n, r in results.items() for k, v in _numbers(r).items()}
    return values | {f"shipped/{k}": v for k, v in _numbers(results[shipped]).items() if k in SHIPPED}


def _split_key(key: str) -> str:
    for split in ("train", "val"):
        if key.startswith(split + "_"):
            return f"{split}/{key[len(split) + 1:]}"
    return f"train/{key}"
