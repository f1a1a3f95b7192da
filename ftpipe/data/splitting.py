"""A seeded stratified split that keeps every class's share in every split to within one example.

scikit-learn's two-stage `train_test_split` can be off by two examples per class (the second cut
re-rounds the first); here each class is cut once, by largest remainder over all splits.
"""
from __future__ import annotations

import math

import numpy as np


def allocate(n: int, shares: list[float], rng: np.random.Generator) -> list[int]:
    """Counts summing to n, each the floor or ceiling of n * share (ties broken at random)."""
    exact = [n * s for s in shares]
    counts = [math.floor(x) for x in exact]
    fractions = [x - c for x, c in zip(exact, counts)]
    order = sorted(range(len(shares)), key=lambda i: (-fractions[i], rng.random()))
    for i in order[:n - sum(counts)]:
        counts[i] += 1
    return counts


def stratified_indices(labels: list, shares: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Row positions per split name; `shares` must sum to 1. Same labels and seed, same split."""
    rng = np.random.default_rng(seed)
    labels = np.asarray([str(x) for x in labels])
    out: dict[str, list[np.ndarray]] = {name: [] for name in shares}
    for cls in sorted(set(labels)):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        edges = np.cumsum([0, *allocate(len(rows), list(shares.values()), rng)])
        for name, start, stop in zip(shares, edges[:-1], edges[1:]):
            out[name].append(rows[start:stop])
    return {name: np.sort(np.concatenate(parts)) if parts else np.array([], dtype=int) for name, parts in out.items()}
