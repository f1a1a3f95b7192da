"""clean: load labelled text, normalise and deduplicate it, map labels to ids, split without leaks, audit the train
split's labels (and drop the suspects when data.drop_suspected_label_errors is true).

Outputs `data/clean/{train,validation,test}.parquet` (text, label, source_row), `labels.json`,
`metrics/clean.json` counting the rows dropped for each reason, and the label audit's `reports/audit/suspects.csv`
and `metrics/audit.json`.
"""
from __future__ import annotations

from collections import Counter

import pandas as pd

from ftpipe.config.params import load_params
from ftpipe.data.audit import audit_train, drop_suspects
from ftpipe.data.cleaning import build_splits, label_names, source_files
from ftpipe.infra import lineage
from ftpipe.infra.io import write_json
from ftpipe.infra.logs import get_logger
from ftpipe.infra.publish import publish
from ftpipe.infra.stage import run_stage

OUT_DIR, METRICS = "data/clean", "metrics/clean.json"
AUDIT_DIR, AUDIT_METRICS = "reports/audit", "metrics/audit.json"
SPLITS = ("train", "validation", "test")
log = get_logger("clean")


def main() -> None:
    cfg = load_params()
    drops, notes = Counter(), Counter()
    splits, labels = build_splits(cfg.data, cfg.data.seed, drops, notes)
    names = label_names(pd.concat([s["label"] for s in splits.values()]), cfg.data.path)
    label_id = {name: i for i, name in enumerate(names)}
    audit = audit_train(splits["train"], names, cfg.data.get("audit"), cfg.data.seed)
    drops["suspected_label_errors"] = 0  # counted, zero or not, like every other reason
    if cfg.data.get("drop_suspected_label_errors"):
        splits["train"], drops["suspected_label_errors"] = drop_suspects(splits["train"], audit)
    report = {"rows_kept": 0, "classes": len(names), **{f"dropped_{k}": v for k, v in sorted(drops.items())},
              **labels.report(), **notes}
    with publish() as out:  # the splits and their report appear together, or neither changes
        folder = out.dir(OUT_DIR)
        for name, frame in splits.items():
            frame = frame.sort_values("source_row")
            ids = frame["label"].astype(str).map(label_id).astype("int64")
            frame.assign(label=ids)[["text", "label", "source_row"]].to_parquet(folder / f"{name}.parquet", index=False)
            report[f"rows_{name}"] = len(frame)
            report["rows_kept"] += len(frame)
        write_json(folder / "labels.json", {"names": names})
        lineage.record(folder, "clean", source_files(cfg.data))
        write_json(out.file(METRICS), report)
        audit.suspects.head(audit.top).to_csv(out.dir(AUDIT_DIR) / "suspects.csv", index=False)
        write_json(out.file(AUDIT_METRICS), audit.report(names))
    log.info("kept %d rows in %d classes %s; dropped %s", report["rows_kept"], len(names),
             {s: report[f"rows_{s}"] for s in SPLITS}, dict(drops) or "nothing")


if __name__ == "__main__":
    run_stage(main)
