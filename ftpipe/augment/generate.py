"""Run the configured augmenters over the train split: which rows, how many, and what is kept."""
from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ftpipe.augment.quality import drop_reason, normalise_key, word_edit_distance
from ftpipe.augment.seeds import example_seed
from ftpipe.infra.errors import PipelineError


def label_caps(labels: pd.Series, spec: Any, names: Sequence[str]) -> dict[int, int | None]:
    """Labels to augment -> most rows that may be added to each (None: no limit).

    `spec`: null (all labels), a list of label ids or names, or `minority`: every label smaller than the
    largest, capped so it grows at most to the largest one's size (balancing).
    """
    counts = labels.value_counts().to_dict()
    if spec is None:
        return {int(label): None for label in counts}
    if spec == "minority":
        largest = max(counts.values(), default=0)
        return {int(label): largest - n for label, n in counts.items() if n < largest}
    if isinstance(spec, str):
        spec = [spec]
    caps: dict[int, int | None] = {}
    for i, item in enumerate(spec):
        label = names.index(item) if item in names else item
        if not isinstance(label, int) or isinstance(label, bool) or label not in set(counts) | set(range(len(names))):
            raise PipelineError(f"augment.labels[{i}]: unknown label {item!r} (known: {list(names)} or their ids)")
        caps[label] = None
    return caps


class Keeper:
    """Decides, row by row, which paraphrases join the train split, and keeps the counts for the report."""

    def __init__(self, train: pd.DataFrame, held_out: set[str], caps: dict[int, int | None]):
        self.taken = {normalise_key(t) for t in train["text"]}
        self.held_out, self.caps = held_out, caps
        self.added: Counter[int] = Counter()

    def full_labels(self) -> set[int]:
        return {lab for lab, cap in self.caps.items() if cap is not None and self.added[lab] >= cap}

    def still_needed(self) -> int | None:
        """Rows the balancing caps still admit in all (None when some label has no cap)."""
        if any(cap is None for cap in self.caps.values()):
            return None
        return sum(max(cap - self.added[lab], 0) for lab, cap in self.caps.items())

    def reason_to_drop(self, text: str, original: str, label: int) -> str | None:
        reason = drop_reason(text, original, self.taken, self.held_out)
        if reason is None and label in self.full_labels():
            reason = "over_balance"
        if reason is None:
            self.taken.add(normalise_key(text))
            self.added[label] += 1
        return reason


def run_one(aug: Any, train: pd.DataFrame, seed: int, keeper: Keeper) -> tuple[list[dict], dict]:
    """All copies of one augmenter, batched: the kept rows and the augmenter's metrics."""
    texts, labels = train["text"].tolist(), train["label"].astype(int).tolist()
    sources = train["source_row"].astype(int).tolist()
    stats = Counter(rows_generated=0, dropped_unchanged=0, dropped_leak=0, dropped_duplicate=0,
                    dropped_over_balance=0)
    kept, distances, start = [], [], time.perf_counter()
    for copy in range(aug.copies):
        todo = [i for i, label in enumerate(labels) if label in keeper.caps]
        with tqdm(total=len(todo), desc=f"{aug.name} {copy + 1}/{aug.copies}", unit="text", disable=None) as bar:
            at = 0
            while at < len(todo):
                # when balancing, send little more than the caps still admit rather than whole batches
                chunk = todo[at:at + min(aug.batch_size, keeper.still_needed() or aug.batch_size)]
                at += len(chunk)
                full = keeper.full_labels()  # a label at its balancing cap is not even sent to the augmenter
                batch = [i for i in chunk if labels[i] not in full]
                stats["dropped_over_balance"] += len(chunk) - len(batch)
                seeds = [example_seed(seed, aug.name, copy, sources[i]) for i in batch]
                outputs = aug.augment([texts[i] for i in batch], seeds, copy)
                if len(outputs) != len(batch):
                    raise PipelineError(f"augmenter {aug.name} returned {len(outputs)} texts for {len(batch)}")
                stats["rows_generated"] += len(batch)
                for i, text in zip(batch, outputs):
                    reason = keeper.reason_to_drop(text, texts[i], labels[i])
                    if reason:
                        stats[f"dropped_{reason}"] += 1
                        continue
                    distances.append(word_edit_distance(texts[i], text))
                    kept.append({"text": text, "label": labels[i], "source_row": sources[i], "origin": aug.name,
                                 "before": texts[i]})
                bar.update(len(chunk))
    seconds, generated = time.perf_counter() - start, stats["rows_generated"]
    return kept, {
        **stats, "rows_added": len(kept),
        "changed_share": round(1 - stats["dropped_unchanged"] / generated, 4) if generated else 0.0,
        "mean_word_edit_distance": round(sum(distances) / len(distances), 3) if distances else 0.0,
        "seconds": round(seconds, 2), "texts_per_second": round(generated / seconds, 1) if seconds else 0.0,
    }


def run_augmenters(train: pd.DataFrame, augmenters: Sequence[Any], seed: int, held_out: set[str],
                   caps: dict[int, int | None], sample_size: int = 20) -> tuple[pd.DataFrame, dict, dict]:
    """New rows (text, label, source_row, origin), per-augmenter metrics, and before/after samples."""
    keeper, rows, metrics, samples = Keeper(train, held_out, caps), [], {}, {}
    for aug in augmenters:
        kept, metrics[aug.name] = run_one(aug, train, seed, keeper)
        picked = sorted(random.Random(seed).sample(range(len(kept)), min(sample_size, len(kept))))
        samples[aug.name] = [{"source_row": kept[i]["source_row"], "label": kept[i]["label"],
                              "before": kept[i]["before"], "after": kept[i]["text"]} for i in picked]
        rows.extend(kept)
    new = pd.DataFrame(rows, columns=["text", "label", "source_row", "origin"])
    return new.astype({"label": "int64", "source_row": "int64"}), metrics, samples
