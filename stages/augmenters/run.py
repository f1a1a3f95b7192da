"""Run the configured augmenters over the train split: which rows, how many, and what is kept."""
from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any, Sequence

import pandas as pd
from tqdm.auto import tqdm

from stages.core.errors import PipelineError

from .quality import drop_reason, normalise_key, word_edit_distance
from .seeds import example_seed


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


def run_augmenters(train: pd.DataFrame, augmenters: Sequence[Any], seed: int, held_out: set[str],
                   caps: dict[int, int | None], sample_size: int = 20) -> tuple[pd.DataFrame, dict, dict]:
    """New rows (text, label, source_row, origin), per-augmenter metrics, and before/after samples."""
    taken = {normalise_key(t) for t in train["text"]}
    added_per_label: Counter[int] = Counter()
    rows, metrics, samples = [], {}, {}
    for aug in augmenters:
        stats = Counter(rows_generated=0, rows_added=0, dropped_unchanged=0, dropped_leak=0,
                        dropped_duplicate=0, dropped_over_balance=0)
        kept, pairs, distances, start = [], [], [], time.perf_counter()
        for copy in range(aug.copies):
            todo = [i for i, label in enumerate(train["label"]) if int(label) in caps]
            bar = tqdm(total=len(todo), desc=f"{aug.name} {copy + 1}/{aug.copies}", unit="text", disable=None)
            for at in range(0, len(todo), aug.batch_size):
                # rows of a label that reached its balancing cap are not even sent to the augmenter
                full = {lab for lab, cap in caps.items() if cap is not None and added_per_label[lab] >= cap}
                batch = [i for i in todo[at:at + aug.batch_size] if int(train["label"].iat[i]) not in full]
                stats["dropped_over_balance"] += min(aug.batch_size, len(todo) - at) - len(batch)
                originals = [train["text"].iat[i] for i in batch]
                sources = [int(train["source_row"].iat[i]) for i in batch]
                seeds = [example_seed(seed, aug.name, copy, s) for s in sources]
                outputs = aug.augment(originals, seeds, copy)
                if len(outputs) != len(batch):
                    raise PipelineError(f"augmenter {aug.name} returned {len(outputs)} texts for {len(batch)}")
                stats["rows_generated"] += len(batch)
                for i, original, source, text in zip(batch, originals, sources, outputs):
                    label = int(train["label"].iat[i])
                    reason = drop_reason(text, original, taken, held_out)
                    if reason is None and caps[label] is not None and added_per_label[label] >= caps[label]:
                        reason = "over_balance"
                    if reason:
                        stats[f"dropped_{reason}"] += 1
                        continue
                    taken.add(normalise_key(text))
                    added_per_label[label] += 1
                    distances.append(word_edit_distance(original, text))
                    kept.append({"text": text, "label": label, "source_row": source, "origin": aug.name})
                    pairs.append({"source_row": source, "label": label, "before": original, "after": text})
                bar.update(min(aug.batch_size, len(todo) - at))
            bar.close()
        seconds = time.perf_counter() - start
        generated = stats["rows_generated"]
        metrics[aug.name] = {
            **stats, "rows_added": len(kept),
            "changed_share": round(1 - stats["dropped_unchanged"] / generated, 4) if generated else 0.0,
            "mean_word_edit_distance": round(sum(distances) / len(distances), 3) if distances else 0.0,
            "seconds": round(seconds, 2), "texts_per_second": round(generated / seconds, 1) if seconds else 0.0,
        }
        picked = random.Random(seed).sample(range(len(kept)), min(sample_size, len(kept)))
        samples[aug.name] = [pairs[i] for i in sorted(picked)]
        rows.extend(kept)
    new = pd.DataFrame(rows, columns=["text", "label", "source_row", "origin"])
    return new.astype({"label": "int64", "source_row": "int64"}), metrics, samples
