"""train: fine-tune the pretrained encoder on the tokenized train split; keep the best epoch.

CUDA when present, else CPU. Seeded; resumes from the last checkpoint after an interruption. Under `torchrun`
(or with `train.nproc` > 1) each process trains on its shard of every epoch in DistributedDataParallel; rank 0
alone validates, writes the outputs and logs to MLflow (docs/distributed.md).
Writes `models/finetuned/` (model, tokenizer, label names), `metrics/train.json`, per-epoch curves
`plots/train_curves.csv` and per-step `plots/train_steps.csv`; logs to MLflow.
"""
from __future__ import annotations

from contextlib import nullcontext
from functools import partial
from pathlib import Path

import mlflow
import pandas as pd

from ftpipe.config.params import flatten, load_params
from ftpipe.config.schema import train_setting
from ftpipe.evaluation.metrics import classification_metrics, temperature_report
from ftpipe.evaluation.plots import curves
from ftpipe.evaluation.predict import predict_logits, predict_probs
from ftpipe.infra import lineage
from ftpipe.infra.io import read_json, write_csv, write_json
from ftpipe.infra.logs import get_logger
from ftpipe.infra.publish import publish
from ftpipe.infra.stage import run_stage
from ftpipe.tracking import keys, trial
from ftpipe.tracking.identity import set_note
from ftpipe.tracking.runs import configure, log_context, start_train_run
from ftpipe.training import checkpoints
from ftpipe.training import distributed as ddp
from ftpipe.training.batching import TokenSplit
from ftpipe.training.device import precision_name, prepare
from ftpipe.training.loop import LoopSettings, Trainer, steps_per_epoch, summary
from ftpipe.training.losses import build_loss, class_weights
from ftpipe.training.methods import apply_method, method_report, save_model, set_trainable, with_method
from ftpipe.training.models import CALIBRATION, load_classifier, load_tokenizer, model_source
from ftpipe.training.optim import build_optimizer, build_scheduler

DATA, CLEAN, LABELS = Path("data/tokenized"), Path("data/clean"), Path("data/clean/labels.json")
MODEL_DIR, CKPT_DIR = Path("models/finetuned"), Path("models/checkpoints")
METRICS, CURVES, STEPS = "metrics/train.json", "plots/train_curves.csv", "plots/train_steps.csv"
HEADLINE = "metrics/headline/train.json"  # what `dvc metrics show` and `dvc exp show` compare
CURVES_PNG = Path("reports/train/curves.png")
log = get_logger("train")


def main() -> None:
    cfg = load_params()
    train = with_method(cfg.train)
    if ddp.should_launch(train.nproc):  # start train.nproc workers, each running this main()
        n_rows = len(TokenSplit.load(DATA / "train").labels)
        return ddp.launch_checked(train.nproc, train.batch_size, n_rows, "stages.train")
    lineage.check([DATA, LABELS.parent])  # the tokenized splits must come from this data/clean
    if ddp.is_main():
        configure(cfg)  # an unreachable tracking server fails here, before any model is loaded
    device, amp_dtype = prepare(cfg.seed, train)
    names = read_json(LABELS)["names"]
    data, val = TokenSplit.load(DATA / "train"), TokenSplit.load(DATA / "validation")
    ddp.check_batches(len(data.ids), train.batch_size)
    weights = class_weights(data.labels, names, train_setting(train, "class_weights"))  # refused before any model loads
    device = ddp.init(device)  # joins torchrun's process group; a plain process stays alone
    source = model_source(cfg.model)
    tokenizer = load_tokenizer(source)
    model = apply_method(load_classifier(source, names, cfg.model), train).to(device)
    optimizer = build_optimizer(model, train)
    total_steps = steps_per_epoch(len(data.ids), train.batch_size, train.grad_accum_steps) * train.epochs
    trainer = Trainer(model, optimizer, build_scheduler(optimizer, train, total_steps),
                      LoopSettings.from_train(train, cfg.seed), device, amp_dtype, build_loss(train, weights, device))
    fingerprint = checkpoints.training_fingerprint(cfg, ddp.world_size(), [DATA / "train", DATA / "validation",
                                                                          LABELS])
    checkpoints.resume(trainer, CKPT_DIR, fingerprint)
    world, pad_id = ddp.world_size(), tokenizer.pad_token_id
    tags = {"seed": cfg.seed, "device": str(device), "precision": precision_name(amp_dtype), "model.source": source,
            "train.world_size": world, "train.backend": ddp.backend() or "none"}
    global_batch = train.batch_size * world * train.grad_accum_steps  # train.batch_size is per process
    if world > 1:
        log.info("DDP: %d processes (%s); global batch %d = %d per process x %d x %d accumulation", world,
                 ddp.backend(), global_batch, train.batch_size, world, train.grad_accum_steps)
    with start_train_run(cfg, tags, resume_id=trainer.state.run_id) if ddp.is_main() else nullcontext() as run:
        if run is not None and trainer.state.run_id is None:
            mlflow.log_params({**flatten(cfg), "train.world_size": world, "train.global_batch_size": global_batch})
            log_context(cfg, names, {s: CLEAN / f"{s}.parquet" for s in ("train", "validation")})
        trainer.state.run_id = run.info.run_id if run is not None else trainer.state.run_id
        trainer.fit(data, pad_id, early_stopping=train.early_stopping,
                    trainable=lambda epoch: set_trainable(model, train, epoch),
                    validate=lambda: classification_metrics(val.labels, predict_probs(
                        model, val.ids, train.eval_batch_size, device, pad_id, amp_dtype)),
                    on_log=log_step, on_eval=partial(log_eval, epochs=train.epochs),
                    on_checkpoint=lambda: checkpoints.save_training(trainer, CKPT_DIR, fingerprint,
                                                                    train.checkpoint.keep))
        ddp.check_replicas(model)
        if ddp.is_main():
            write_outputs(cfg, trainer, tokenizer, names, len(data.ids), weights,
                          base_loader=lambda: load_classifier(source, names, cfg.model),
                          val=(val.labels, partial(predict_logits, model, val.ids, train.eval_batch_size, device,
                                                   pad_id, amp_dtype)))


def log_step(point: dict) -> None:
    mlflow.log_metrics(keys.step(point["train_loss"], point["lr"]), step=point["step"])


def log_eval(row: dict, n: int, epochs: int) -> None:
    """Validation number `n` (the epoch, unless train.evals_per_epoch > 1): to MLflow at step n, and to the log."""
    mlflow.log_metrics(keys.epoch(row), step=n)
    log.info("epoch %s: %s", row["epoch"], {k: v for k, v in row.items() if k != "epoch"})
    # in an Optuna sweep the validation goes to the trial, whose pruner may stop the training here (never after
    # the last: there is nothing left to save, and the finished result would be thrown away)
    trial.report(row, step=n, last=row["epoch"] >= epochs)


def write_outputs(cfg, trainer: Trainer, tokenizer, names: list[str], n_train: int,
                  weights: dict[str, float] | None, base_loader, val) -> None:
    """Save the best epoch's model with its temperature (fitted on `val`: labels, a function giving logits),
    the metrics and the curves; log them to MLflow."""
    model, state, train = trainer.model, trainer.state, with_method(cfg.train)
    model.load_state_dict(trainer.best_weights)
    method = {"method": train.method.name, **method_report(model, trainer.device)}  # sizes as trained, pre-merge
    if weights is not None:  # only when set: the default report keeps its keys
        method["class_weights"] = {name: round(w, 6) for name, w in weights.items()}
    calibrated = temperature_report(val[0], val[1](), train.temperature_scaling)
    report = summary(state, n_train, cfg.train.epochs, method) | calibrated
    report["precision"] = precision_name(trainer.amp_dtype)  # train.precision=auto resolved
    history = pd.DataFrame(state.history)
    with publish() as out:  # the model, its report and its curves appear together
        folder = out.dir(MODEL_DIR)
        save_model(model, train, folder, base_loader)
        tokenizer.save_pretrained(folder)
        write_json(folder / "labels.json", {"names": names})
        write_json(folder / CALIBRATION, {"temperature": calibrated["temperature"], "fitted_on": "validation"})
        lineage.record(folder, "train", [DATA, LABELS])
        write_json(out.file(METRICS), report)
        write_json(out.file(HEADLINE), {"val_macro_f1": report["val_macro_f1"], "train_s": report["seconds"]})
        write_csv(out.file(CURVES), history.drop(columns="trainable_params"))
        write_csv(out.file(STEPS), pd.DataFrame(state.steps, columns=["step", "train_loss", "lr"]))
        curves(history["epoch"].tolist(), {c: history[c].tolist() for c in ("train_loss", "val_loss", "val_accuracy")},
               out.dir(CURVES_PNG.parent) / CURVES_PNG.name, "Training curves")
    mlflow.log_metrics(keys.summary(report))
    set_note({"Validation": f"best epoch {state.best_epoch} of {report['epochs_run']}: validation "
                            f"{train.early_stopping.metric} {state.best:.4f}, trained in {report['seconds']:.0f} s"})
    for path in (METRICS, CURVES, STEPS, CURVES_PNG):
        mlflow.log_artifact(path, "train")
    if cfg.mlflow.log_model:
        mlflow.log_artifacts(str(MODEL_DIR), "model")
    checkpoints.prune(CKPT_DIR, cfg.train.checkpoint.keep)
    log.info("best epoch %s: %s=%.4f; saved %s", state.best_epoch, train.early_stopping.metric, state.best, MODEL_DIR)


if __name__ == "__main__":
    run_stage(main)
