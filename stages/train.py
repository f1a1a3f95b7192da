"""train: fine-tune the pretrained encoder on the tokenized train split; keep the best epoch.

CUDA when present, else CPU. Seeded; resumes from the last checkpoint after an interruption.
Under `torchrun` (world size > 1) each process trains on its shard of every epoch in DistributedDataParallel;
rank 0 alone validates, writes the outputs and logs to MLflow (docs/distributed.md).
Writes `models/finetuned/` (save_pretrained: model, tokenizer, label names), `metrics/train.json`,
per-epoch curves `plots/train_curves.csv` and per-step `plots/train_steps.csv`; logs to MLflow.
"""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from stages.core import checkpoints
from stages.core import distributed as ddp
from stages.core.batching import collate, load_tokenized, train_batches
from stages.core.config import flatten, load_params
from stages.core.errors import PipelineError, run_stage
from stages.core.evaluation import classification_metrics, predict_probs
from stages.core.io import atomic_path, read_json, write_csv, write_json
from stages.core.logs import get_logger
from stages.core.modeling import load_classifier, load_tokenizer, model_source
from stages.core.optim import build_optimizer, build_scheduler
from stages.core.peft_methods import apply_method, check_method, method_report, save_model, set_trainable
from stages.core.plots import curves
from stages.core.runtime import check_train_config, pick_device, upstream_metrics, upstream_reports
from stages.core.seeding import seed_everything
from stages.core.tracking import configure, start_train_run

DATA, LABELS = Path("data/tokenized"), "data/clean/labels.json"
MODEL_DIR, CKPT_DIR = Path("models/finetuned"), Path("models/checkpoints")
METRICS, CURVES, STEPS = "metrics/train.json", "plots/train_curves.csv", "plots/train_steps.csv"
# a checkpoint resumes only under the code that wrote it: after an edit, a finished run's last checkpoint
# would otherwise hand back the old model
CODE = sorted([Path(__file__), *Path(__file__).parent.glob("core/*.py")])
COUNTERS = ("loss_sum", "loss_n", "tokens", "skipped")  # per-rank tallies, pooled on rank 0 (ddp.pool)
log = get_logger("train")


def main() -> None:
    cfg = load_params()
    train = check_method(check_train_config(cfg.train))
    if ddp.should_launch(train.get("nproc", 1)):  # start train.nproc workers, each running this main()
        n_rows = len(pd.read_parquet(DATA / "train.parquet", columns=["label"]))
        ddp.check_batches(n_rows, train.batch_size, train.nproc)  # a one-line error before any worker starts
        return ddp.launch(train.nproc, "stages.train")
    if ddp.is_main():
        configure(cfg)  # an unreachable tracking server fails here, before any model is loaded
    seed_everything(cfg.seed)
    # Deterministic mode also NaN-fills every torch.empty: 13% of training CPU time (BENCHMARKS.md), and only
    # guards reads of uninitialised memory, which no op here makes; results stay identical run to run.
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.set_num_threads(train.num_threads or ddp.cpu_share())
    device, amp_dtype = pick_device(train)
    names = read_json(LABELS)["names"]
    ids, labels = load_tokenized(DATA / "train.parquet")
    ddp.check_batches(len(ids), train.batch_size)
    device = ddp.init(device)  # joins torchrun's process group; a plain process stays alone
    val_ids, val_labels = load_tokenized(DATA / "validation.parquet")
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    source = model_source(cfg.model)
    tokenizer = load_tokenizer(source)
    model = apply_method(load_classifier(source, names, cfg.model), train).to(device)
    optimizer = build_optimizer(model, train)
    world = ddp.world_size()  # train.batch_size is per process: global batch = batch_size * world * accumulation
    batches_per_rank = math.ceil(math.ceil(len(ids) / train.batch_size) / world)  # what ddp.shard gives each
    steps_per_epoch = math.ceil(batches_per_rank / train.grad_accum_steps)
    scheduler = build_scheduler(optimizer, train, steps_per_epoch * train.epochs)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    resumable = {k: v for k, v in flatten(cfg).items() if k.split(".")[0] in ("seed", "model", "train")
                 and not k.startswith(("train.checkpoint", "train.log_every", "train.nproc"))}
    if world > 1:  # a checkpoint's batch position only means something for the same number of processes
        resumable["world_size"] = world
    fingerprint = checkpoints.fingerprint(resumable, [DATA / "train.parquet", DATA / "validation.parquet", LABELS, *CODE])
    with ddp.main_first():  # rank 0 removes stale checkpoints before the others look; then all load the same
        state = checkpoints.latest(CKPT_DIR, fingerprint)
    loop = state["loop"] if state else {"epoch": 0, "batch": 0, "step": 0, "best": -math.inf, "best_epoch": 0,
                                        "bad_epochs": 0, "history": [], "steps": [], "loss_sum": 0.0,
                                        "loss_n": 0, "skipped": 0, "seconds": 0.0, "tokens": 0, "run_id": None}
    best_weights = state["best_weights"] if state else None
    if state:
        for obj, key in ((model, "model"), (optimizer, "optimizer"), (scheduler, "scheduler"), (scaler, "scaler")):
            obj.load_state_dict(state[key])
        checkpoints.set_rng_state(state["rank_rng"][ddp.rank()] if "rank_rng" in state else state["rng"])
        if not ddp.is_main():
            loop.update(dict.fromkeys(COUNTERS, 0))  # the saved tallies are totals, carried by rank 0 alone
        log.info("resuming from epoch %d, batch %d (step %d)", loop["epoch"], loop["batch"], loop["step"])

    def save_checkpoint() -> None:
        ddp.pool(loop, COUNTERS)
        rank_rng = ddp.gather(checkpoints.rng_state())  # so each resumed rank continues its own random streams
        if ddp.is_main():
            checkpoints.save(CKPT_DIR, loop["step"], {
                "fingerprint": fingerprint, "loop": loop, "best_weights": best_weights, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), **({"rank_rng": rank_rng} if rank_rng else {})},
                keep=train.checkpoint.keep)

    tags = {"seed": cfg.seed, "device": str(device), "precision": train.precision, "model.source": source,
            "train.world_size": world, "train.backend": ddp.backend() or "none"}
    global_batch = train.batch_size * world * train.grad_accum_steps
    if world > 1:
        log.info("DDP: %d processes (%s); global batch %d = %d per process x %d x %d accumulation", world,
                 ddp.backend(), global_batch, train.batch_size, world, train.grad_accum_steps)
    with start_train_run(cfg, tags, resume_id=loop["run_id"]) if ddp.is_main() else nullcontext() as run:
        if ddp.is_main() and loop["run_id"] is None:
            mlflow.log_params({**flatten(cfg), "train.world_size": world, "train.global_batch_size": global_batch})
            mlflow.log_metrics(upstream_metrics())
            for path, folder in upstream_reports():
                mlflow.log_artifact(path, folder)
        loop["run_id"] = run.info.run_id if run is not None else loop["run_id"]
        metric, patience = train.early_stopping.metric, train.early_stopping.patience
        net = model
        for epoch in range(loop["epoch"], train.epochs):
            trainable = set_trainable(model, train, epoch)
            net = ddp.wrap(model, device, net)  # DDP averages the gradients (after set_trainable: see wrap)
            batches = ddp.shard(train_batches(lengths, train.batch_size, cfg.seed, epoch, train.length_bucketing))
            model.train()
            started = time.perf_counter()
            bar = tqdm(total=len(batches), initial=loop["batch"], desc=f"epoch {epoch + 1}/{train.epochs}",
                       unit="batch", mininterval=2, disable=not ddp.is_main())
            for b in range(loop["batch"], len(batches)):
                stepping = (b + 1) % train.grad_accum_steps == 0 or b + 1 == len(batches)
                batch = {k: v.to(device) for k, v in collate(ids, batches[b], tokenizer.pad_token_id).items()}
                with ddp.syncing(net, stepping):  # forward and backward of a micro-batch that steps: all-reduce
                    with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                        logits = net(**batch).logits
                    loss = torch.nn.functional.cross_entropy(logits.float(),
                                                             torch.as_tensor(labels[batches[b]], device=device))
                    finite = ddp.all_true(bool(torch.isfinite(loss)))  # a batch is skipped on every rank or none
                    if finite:
                        scaler.scale(loss / train.grad_accum_steps).backward()
                if not finite:
                    if train.nonfinite_loss != "skip":
                        raise PipelineError(f"train: loss became {ddp.mean(loss.item())} at step {loop['step']} (epoch "
                                            f"{epoch + 1}, batch {b + 1}, lr {scheduler.get_last_lr()[0]:.2e}); lower "
                                            f"train.lr, set train.max_grad_norm, or set train.nonfinite_loss=skip")
                    optimizer.zero_grad(set_to_none=True)
                    loop["skipped"] += 1
                    log.warning("non-finite loss at epoch %d batch %d: batch skipped (%d so far)", epoch + 1, b + 1,
                                loop["skipped"])
                    continue
                loop["loss_sum"] += loss.item()
                loop["loss_n"] += 1
                loop["tokens"] += int(batch["attention_mask"].sum())
                bar.update(1)
                if not stepping:
                    continue
                if train.max_grad_norm:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), train.max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                loop["step"] += 1
                loop["batch"] = b + 1
                if loop["step"] % train.log_every_steps == 0:
                    point = {"step": loop["step"], "train_loss": ddp.mean(loss.item()),  # mean over ranks
                             "lr": scheduler.get_last_lr()[0]}
                    loop["steps"].append(point)
                    if ddp.is_main():
                        mlflow.log_metrics({"step_train_loss": point["train_loss"], "lr": point["lr"]},
                                           step=loop["step"])
                    bar.set_postfix(loss=f"{point['train_loss']:.4f}")
                if loop["step"] % train.checkpoint.every_steps == 0:
                    save_checkpoint()
            bar.close()
            totals = ddp.pool(loop, COUNTERS)  # rank 0 now holds the sums over all ranks
            if totals["loss_n"] == 0:
                raise PipelineError(f"train: every batch of epoch {epoch + 1} had a non-finite loss "
                                    f"({totals['skipped']} skipped); the model or data is broken: lower train.lr or "
                                    f"check model.name_or_path")
            loop["seconds"] += time.perf_counter() - started
            if ddp.is_main():  # validation on rank 0 alone, on the whole split: the same numbers as one process
                val = classification_metrics(val_labels, predict_probs(
                    model, val_ids, train.eval_batch_size, device, tokenizer.pad_token_id, amp_dtype))
                row = {"epoch": epoch + 1, "train_loss": round(loop["loss_sum"] / max(loop["loss_n"], 1), 6),
                       **{f"val_{k}": v for k, v in val.items()}, "trainable_params": trainable}
                loop["history"].append(row)
                mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch + 1)
                log.info("epoch %d: %s", epoch + 1, {k: v for k, v in row.items() if k != "epoch"})
                if val[metric] > loop["best"] + train.early_stopping.threshold:
                    loop.update(best=val[metric], best_epoch=epoch + 1, bad_epochs=0)
                    best_weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                else:
                    loop["bad_epochs"] += 1
            loop.update(epoch=epoch + 1, batch=0, loss_sum=0.0, loss_n=0)
            save_checkpoint()
            if ddp.broadcast(loop["bad_epochs"] >= patience):  # rank 0 decides; every rank stops with it
                log.info("early stopping: no %s gain for %d epoch(s)", metric, patience)
                break
        ddp.check_replicas(model)
        if ddp.is_main():
            finish(cfg, model, tokenizer, best_weights, loop, names, len(ids), train, device, source)


def finish(cfg, model, tokenizer, best_weights, loop, names, n_train, train, device, source) -> None:
    """Save the best epoch's model, the metrics and the curves; log them to MLflow."""
    model.load_state_dict(best_weights)
    method = method_report(model, device)  # trainable share of the model as trained, before any merge
    with atomic_path(MODEL_DIR, is_dir=True) as out:
        save_model(model, train, out, lambda: load_classifier(source, names, cfg.model))
        tokenizer.save_pretrained(out)
        write_json(out / "labels.json", {"names": names})
    history = pd.DataFrame(loop["history"])
    best = history[history["epoch"] == loop["best_epoch"]].iloc[0]
    epochs_run = len(history)
    report = {"best_epoch": loop["best_epoch"], "epochs_run": epochs_run,
              "stopped_early": epochs_run < cfg.train.epochs, "skipped_steps": loop["skipped"],
              **{k: float(best[k]) for k in history.columns if k.startswith("val_")},
              "method": train.method.name, **method,
              "seconds": round(loop["seconds"], 1), "seconds_per_epoch": round(loop["seconds"] / epochs_run, 1),
              "samples_per_second": round(n_train * epochs_run / max(loop["seconds"], 1e-9), 2),
              "tokens_per_second": round(loop["tokens"] / max(loop["seconds"], 1e-9), 1)}
    write_json(METRICS, report)
    write_csv(CURVES, history.drop(columns="trainable_params"))
    write_csv(STEPS, pd.DataFrame(loop["steps"], columns=["step", "train_loss", "lr"]))
    curves(history["epoch"].tolist(), {c: history[c].tolist() for c in ("train_loss", "val_loss", "val_accuracy")},
           "reports/train/curves.png", "Training curves")
    mlflow.log_metrics({f"best_{k}": v for k, v in report.items() if isinstance(v, (int, float))})
    for path in (METRICS, CURVES, STEPS, "reports/train/curves.png"):
        mlflow.log_artifact(path, "train")
    if cfg.mlflow.log_model:
        mlflow.log_artifacts(str(MODEL_DIR), "model")
    checkpoints.prune(CKPT_DIR, cfg.train.checkpoint.keep)
    log.info("best epoch %d: %s=%.4f; saved %s", loop["best_epoch"], cfg.train.early_stopping.metric,
             loop["best"], MODEL_DIR)


if __name__ == "__main__":
    run_stage(main)
