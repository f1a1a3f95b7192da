"""The trade-off in three forms: a log table, DVC plot rows, a latency-vs-accuracy PNG."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ftpipe.infra.io import atomic_path

COLUMNS = [("accuracy", "acc", "{:.4f}"), ("delta_accuracy", "Δacc", "{:+.4f}"), ("macro_f1", "F1", "{:.4f}"),
           ("agreement", "agree", "{:.3f}"), ("size_mb", "MB", "{:.1f}"), ("latency_p50_ms_b1", "p50 ms", "{:.2f}"),
           ("latency_p50_ms_b1_ci95", "p50 95 % CI", "{0[0]:.2f}–{0[1]:.2f}"),
           ("latency_p95_ms_b1", "p95 ms", "{:.2f}"), ("throughput_b32", "txt/s@32", "{:.0f}"),
           ("peak_rss_mb", "peak MB", "{:.0f}")]


def table(results: dict[str, dict], winner: str) -> str:
    """Fixed-width text table, one row per variant, the shipped one starred."""
    rows = [["variant"] + [head for _, head, _ in COLUMNS]]
    for name, r in results.items():
        cells = [fmt.format(r[key]) if r.get(key) is not None else "-" for key, _, fmt in COLUMNS]
        rows.append([name + (" *" if name == winner else "")] + cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
                     for row in rows)


def plot_rows(results: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame([{"variant": n, "latency_ms": r["latency_p50_ms_b1"], "accuracy": r["accuracy"],
                          "size_mb": r["size_mb"]} for n, r in results.items()])


def plot_tradeoff(results: dict[str, dict], floor: float, winner: str, path: Path) -> None:
    """Latency (x) vs accuracy (y); marker area follows size on disk; the gate floor as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = plot_rows(results)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter(rows.latency_ms, rows.accuracy, s=rows.size_mb * 8, alpha=0.5,
               c=["tab:red" if v == winner else "tab:blue" for v in rows.variant])
    for row in rows.itertuples():
        ax.annotate(f"{row.variant} ({row.size_mb:.0f} MB)", (row.latency_ms, row.accuracy), fontsize=8,
                    xytext=(6, 6), textcoords="offset points")
    ax.axhline(floor, linestyle="--", color="grey", label="gate: max accuracy drop")
    ax.set_xlabel("latency p50 at batch 1 (ms)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"Compression trade-off (shipped: {winner}; marker area ~ size on disk)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
