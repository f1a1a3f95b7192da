"""compress: build INT8 / ONNX / distilled variants of models/finetuned, measure them alike, ship the fastest
within the accuracy gate to deploy/ and register it in MLflow.

Writes `models/compressed/` (one self-contained directory per variant), `deploy/`, `metrics/compression.json`,
`plots/compression.csv` and `reports/compression_tradeoff.png`.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ftpipe.compression import deploy, gate, measure, tradeoff, variants
from ftpipe.config.params import load_params
from ftpipe.config.schema import compress_variants
from ftpipe.data.tables import read_split
from ftpipe.infra import lineage
from ftpipe.infra.io import write_csv, write_json
from ftpipe.infra.logs import get_logger
from ftpipe.infra.publish import publish
from ftpipe.infra.seeding import seed_everything
from ftpipe.infra.stage import run_stage
from ftpipe.training.models import read_temperature

MODEL_DIR, OUT_DIR, DEPLOY_DIR = Path("models/finetuned"), Path("models/compressed"), Path("deploy")
TEST, TRAIN, VALIDATION = (Path(f"data/clean/{s}.parquet") for s in ("test", "train", "validation"))
AUGMENTED = Path("data/augmented/train.parquet")
METRICS, PLOT_DATA = Path("metrics/compression.json"), Path("plots/compression.csv")
HEADLINE = Path("metrics/headline/compress.json")  # the shipped variant: what `dvc metrics show` compares
PLOT_PNG = Path("reports/compression_tradeoff.png")
log = get_logger("compress")


def main() -> None:
    cfg = load_params()
    c = cfg.compress
    names = compress_variants(c.variants)
    lineage.check([MODEL_DIR, TEST.parent, AUGMENTED.parent])  # the model and the texts from one run
    teacher, tokenizer, labels = variants.load_teacher(MODEL_DIR)
    test = read_split(TEST).head(c.latency.get("max_test_rows") or None)
    texts, y = test.text.astype(str).tolist(), test.label.astype(int).tolist()
    # distillation trains on the augmented split when the augment stage produced one
    train = read_split(AUGMENTED if AUGMENTED.is_file() else TRAIN) if "distilled" in names else None
    validation = read_split(VALIDATION) if "distilled" in names else None  # the student's temperature
    seed_everything(int(cfg.seed))
    variants.use_training_threads(cfg)  # measuring, below, uses compress.threads
    settings = {"threads": int(c.threads), "warmup": int(c.latency.warmup), "repeats": int(c.latency.repeats),
                "throughput_warmup": c.latency.get("throughput_warmup"),
                "throughput_repeats": c.latency.get("throughput_repeats"),
                "batch_sizes": [int(b) for b in c.latency.batch_sizes], "bins": int(cfg.evaluate.calibration_bins)}
    limits = float(c.max_accuracy_drop), c.get("max_ece_increase")

    with publish() as out:  # variants, deploy/, metrics and plots appear together; a failure keeps the old set
        root = out.dir(OUT_DIR)
        dirs, facts = variants.build_variants(names, teacher, tokenizer, labels, texts, cfg, root, train,
                                              read_temperature(MODEL_DIR), validation)
        torch.set_num_threads(int(c.threads))
        log.info("measuring %s (%d test texts, %d threads)", list(dirs), len(texts), settings["threads"])
        results = measure.measure_all(dirs, texts, y, settings, isolated=bool(c.latency.get("isolate", True)))
        measure.relative_to_reference(results, facts, y, int(cfg.evaluate.bootstrap_samples), int(cfg.seed))
        for name in ("onnx_int8", "distilled_onnx_int8"):
            if any(k.startswith(f"{name}[") for k in results):
                variants.keep_best_weight_type(results, root, name, lambda r: gate.passes(r, *limits))
        winner, reason = gate.choose(results, *limits)
        deploy.ship(root / winner, out.dir(DEPLOY_DIR))
        log.info("results (model call only; batch-1 p50/p95 latency, batch-32 throughput):\n%s",
                 tradeoff.table(results, winner))
        log.info("shipping %s: %s", winner, reason)
        write_json(out.file(METRICS), {"shipped": winner, "reason": reason, "max_accuracy_drop": limits[0],
                                       "max_ece_increase": limits[1],
                                       "test_rows": len(texts), "settings": settings, "variants": results})
        write_csv(out.file(PLOT_DATA), tradeoff.plot_rows(results))
        shipped = results[winner]
        write_json(out.file(HEADLINE), {"shipped": winner, "latency_ms": round(shipped["latency_p50_ms_b1"], 2),
                                        "acc_delta": round(shipped["delta_accuracy"], 4)})
        tradeoff.plot_tradeoff(results, results["fp32"]["accuracy"] - limits[0], winner, out.file(PLOT_PNG))
    deploy.log_compression(cfg, results, winner, reason, [METRICS, PLOT_DATA, PLOT_PNG], DEPLOY_DIR)


if __name__ == "__main__":
    run_stage(main)
