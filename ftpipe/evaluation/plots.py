"""Small matplotlib figures for people (DVC renders the CSV plot data itself)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI or servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ftpipe.infra.io import atomic_path  # noqa: E402


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def curves(epochs: list[int], series: dict[str, list[float]], path: str | Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in series.items():
        ax.plot(epochs, values, marker="o", label=name)
    ax.set(xlabel="epoch", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


def confusion(matrix: np.ndarray, names: list[str], path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 3, 1.2 * len(names) + 2.5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center",
                color="white" if value > matrix.max() / 2 else "black")
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="actual", title="Confusion matrix (test)")
    _save(fig, path)


def reliability(confidence: np.ndarray, accuracy: np.ndarray, counts: np.ndarray, ece: float,
                path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    seen = counts > 0
    ax.plot(confidence[seen], accuracy[seen], marker="o", label="model")
    ax.set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
           title=f"Reliability diagram (ECE {ece:.3f})")
    ax.legend()
    _save(fig, path)
