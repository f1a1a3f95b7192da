"""Token ids for the tokenize stage: truncated, unpadded (padding happens per batch), with length statistics."""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from ftpipe.infra.errors import PipelineError

BATCH = 1024


def check_max_length(tokenizer, max_length: int) -> None:
    limit = tokenizer.model_max_length if tokenizer.model_max_length < 1e6 else None
    if limit and max_length > limit:
        raise PipelineError(f"model.max_length: {max_length} exceeds the model's limit of {limit}")


def tokenize_texts(tokenizer, texts: list[str], max_length: int) -> tuple[list[list[int]], np.ndarray]:
    """Token ids truncated to max_length (keeping the closing special token), plus each text's untruncated length."""
    ids, full_lengths = [], []
    for start in tqdm(range(0, len(texts), BATCH), desc="tokenize", unit="batch", leave=False):
        batch = texts[start:start + BATCH]
        full = tokenizer(batch, truncation=False, add_special_tokens=True)["input_ids"]
        full_lengths.extend(len(x) for x in full)
        ids.extend(x if len(x) <= max_length else x[:max_length - 1] + [x[-1]] for x in full)
    return ids, np.asarray(full_lengths)


def length_stats(full_lengths: np.ndarray, max_length: int) -> dict[str, float]:
    return {"mean": round(float(full_lengths.mean()), 2), "p50": int(np.percentile(full_lengths, 50)),
            "p95": int(np.percentile(full_lengths, 95)), "max": int(full_lengths.max()),
            "truncated_share": round(float((full_lengths > max_length).mean()), 4)}


def unknown_share(tokenizer, ids: list[list[int]]) -> float:
    """Share of the real (non-special) tokens that are the unknown token."""
    unk = tokenizer.unk_token_id
    if unk is None:
        return 0.0
    special = set(tokenizer.all_special_ids) - {unk}
    real = [t for row in ids for t in row if t not in special]
    return round(sum(t == unk for t in real) / max(len(real), 1), 6)


def check_unknown_share(share: float, limit: float, split: str, source: str) -> None:
    if share > limit:
        raise PipelineError(f"model.max_unk_share: {share:.1%} of the {split} split's tokens are the unknown token "
                            f"with {source}'s tokenizer (limit {limit:.1%}); the tokenizer does not fit this text: "
                            f"use the model's own tokenizer or a model for this language, or raise "
                            f"model.max_unk_share")
