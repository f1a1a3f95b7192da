"""Training FLOPs of a BERT-style encoder classifier, and this machine's matmul peak.

Convention (Kaplan et al. 2020): N counts the *non-embedding* parameters (encoder layers, pooler,
classifier head; not the word/position/type embedding tables or their LayerNorm). A forward pass costs
2 N + 2 n_layers * seq_len * d_model FLOPs per token (weight matmuls + attention scores and
weighted sum); training (forward + backward) costs three times that:

    train FLOPs per token = 6 N + 6 n_layers * seq_len * d_model

`seq_len` is the padded width of the token's batch; only real (non-pad) tokens are counted as useful,
so padding shows up as lost utilisation, as it should.
"""
from __future__ import annotations

import time

import numpy as np
import torch


def non_embedding_params(hidden: int, layers: int, intermediate: int, num_labels: int, pooler: bool = True) -> int:
    """Hand count for BERT: per layer Q,K,V,O (4h^2+4h), FFN (2hi+i+h), two LayerNorms (4h)."""
    per_layer = 4 * hidden * hidden + 4 * hidden + 2 * hidden * intermediate + intermediate + hidden + 4 * hidden
    head = (hidden * hidden + hidden if pooler else 0) + hidden * num_labels + num_labels
    return layers * per_layer + head


def params_from_config(config) -> int:
    return non_embedding_params(config.hidden_size, config.num_hidden_layers, config.intermediate_size,
                                config.num_labels)


def train_flops(n_params: int, layers: int, hidden: int, real_tokens: int, seq_len: float) -> float:
    """6 N D plus the attention term, for D real tokens in batches of (mean padded) width seq_len."""
    return real_tokens * (6 * n_params + 6 * layers * seq_len * hidden)


def batch_train_flops(n_params: int, layers: int, hidden: int, batch_lengths: list[np.ndarray]) -> float:
    """Sum over batches, each with its own padded width (its longest row)."""
    return float(sum(train_flops(n_params, layers, hidden, int(lens.sum()), int(lens.max())) for lens in batch_lengths))


def matmul_peak(dtype: torch.dtype = torch.float32, size: int = 2048, repeats: int = 5, seconds: float = 1.0,
                device: str = "cpu") -> float:
    """Best GFLOP/s of size x size @ size x size over `repeats` timed bursts (the machine's practical peak)."""
    a, b = (torch.randn(size, size, dtype=dtype, device=device) for _ in range(2))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)  # CUDA matmuls return before they end
    burst = 20 if device == "cuda" else 1  # one sync per burst: a sync per sub-millisecond matmul would show
    torch.matmul(a, b)  # warm-up: thread pool, kernels
    sync()
    best = 0.0
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            for _ in range(burst):
                torch.matmul(a, b)
            n += burst
            sync()
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / repeats:
                break
        best = max(best, 2 * size ** 3 * n / elapsed / 1e9)
    return best
