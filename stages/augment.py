"""augment: add paraphrases of train rows (WordNet synonyms, back-translation), never leaking eval text.

Reads `data/clean/{train,validation,test}.parquet` and `labels.json`; writes `data/augmented/train.parquet`
(originals first, then new rows tagged with `origin` and their `source_row`), `metrics/augment.json` and
`reports/augment_samples.json`. With `augment.augmenters: []` it copies the train split through.
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from ftpipe.augment import build, is_english_only
from ftpipe.augment.generate import label_caps, run_augmenters
from ftpipe.augment.quality import normalise_key, require_english
from ftpipe.config.params import load_params
from ftpipe.config.schema import augmenter_names
from ftpipe.data import tables
from ftpipe.infra import lineage
from ftpipe.infra.io import read_json, write_json
from ftpipe.infra.logs import get_logger
from ftpipe.infra.publish import publish
from ftpipe.infra.seeding import seed_everything
from ftpipe.infra.stage import run_stage

CLEAN = Path("data/clean")
OUTPUT = Path("data/augmented/train.parquet")
METRICS = Path("metrics/augment.json")
SAMPLES = Path("reports/augment_samples.json")
COLUMNS = ("text", "label", "source_row")
log = get_logger("augment")


def read_split(name: str) -> pd.DataFrame:
    """One clean split with the columns this stage relies on, in that order."""
    frame = tables.read_split(CLEAN / f"{name}.parquet", COLUMNS)
    return frame[list(COLUMNS)].reset_index(drop=True)


def main() -> None:
    params = load_params()
    # the data's seed, not training's: repeats of a training (a seed sweep) share one augmented set
    cfg, seed = params.get("augment") or {}, int((params.get("data") or {}).get("seed", 42))
    names = augmenter_names(cfg.get("augmenters"))
    lineage.check([CLEAN])
    train = read_split("train")
    labels_file = CLEAN / "labels.json"
    label_names = list(read_json(labels_file)["names"]) if labels_file.is_file() else []
    english_only = [n for n in names if is_english_only(n, cfg)]
    if english_only and cfg.get("require_english", True):
        require_english(train["text"].tolist(), english_only, float(cfg.get("min_ascii_letter_share", 0.9)))
    seed_everything(seed)
    held_out = {normalise_key(t) for split in ("validation", "test") for t in read_split(split)["text"]}
    caps = label_caps(train["label"], cfg.get("labels"), label_names)
    start = time.perf_counter()
    augmenters = [build(name, cfg) for name in names]
    log.info("loaded %s in %.1f s", names or "no augmenter", time.perf_counter() - start)
    new, per_augmenter, samples = run_augmenters(train, augmenters, seed, held_out, caps,
                                                 int(cfg.get("sample_size", 20)))
    out = pd.concat([train.assign(origin="original"), new], ignore_index=True)
    metrics = {"rows_original": len(train), "rows_added": len(new), "rows_total": len(out),
               "augmenters": per_augmenter,
               "rows_per_label": {str(k): int(v) for k, v in out["label"].value_counts().sort_index().items()}}
    with publish() as outputs:  # the split, its report and the samples appear together
        folder = outputs.dir(OUTPUT.parent)
        typed = out.astype({"label": "int64", "source_row": "int64", "origin": "str"})
        typed.to_parquet(folder / OUTPUT.name, index=False)
        lineage.record(folder, "augment", [CLEAN])
        write_json(outputs.file(METRICS), metrics)
        write_json(outputs.file(SAMPLES), {"label_names": label_names, "samples": samples})
    log.info("%d original + %d augmented rows -> %s", len(train), len(new), OUTPUT)


if __name__ == "__main__":
    run_stage(main)
