"""The training loop: epochs of length-bucketed batches with dynamic padding, resumable to the batch.

`Trainer.run_epoch` is the one step loop of the project: autocast, gradient accumulation, clipping, the
non-finite-loss policy, DDP's gradient sync and the progress bar. The train stage drives it with
cross-entropy, validation and early stopping (`Trainer.fit`), validating `evals_per_epoch` times an epoch;
distillation drives it with the teacher's soft labels as its loss. Everything a resumed run needs is in
`LoopState`, saved in every checkpoint.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from tqdm import tqdm

from ftpipe.config.schema import train_setting
from ftpipe.infra.errors import PipelineError
from ftpipe.infra.logs import get_logger
from ftpipe.training import distributed as ddp
from ftpipe.training.batching import TokenSplit, collate, train_batches

# per-rank tallies, pooled on rank 0 (ddp.pool) before they are read or saved
COUNTERS = ("loss_sum", "loss_n", "tokens", "skipped")
log = get_logger("train")


@dataclass
class LoopState:
    """Where a training is and what it has seen so far; a checkpoint stores it whole."""

    epoch: int = 0                # epochs finished
    batch: int = 0                # batches of the current epoch done
    step: int = 0                 # optimiser steps so far
    best: float = -math.inf       # best validation value of the early-stopping metric
    best_epoch: float = 0         # where it was reached, in epochs (1.5: half-way through the second)
    bad_evals: int = 0            # validations in a row without a gain
    history: list[dict[str, Any]] = field(default_factory=list)  # per validation: train loss, validation metrics
    steps: list[dict[str, Any]] = field(default_factory=list)    # every log_every_steps: step, train_loss, lr
    loss_sum: float = 0.0         # summed batch losses since the last validation (until pooled: this rank's)
    loss_n: int = 0
    tokens: int = 0               # real (unpadded) tokens trained on
    skipped: int = 0              # batches skipped for a non-finite loss
    seconds: float = 0.0          # time in training epochs, validation excluded
    run_id: str | None = None     # the MLflow run, reopened when a killed training resumes

    def pool(self) -> dict[str, Any]:
        """Sum COUNTERS over the ranks: rank 0 keeps the totals, the others restart from 0 (ddp.pool)."""
        counters = {k: getattr(self, k) for k in COUNTERS}
        totals = ddp.pool(counters, COUNTERS)
        for key, value in counters.items():
            setattr(self, key, value)
        return totals

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LoopSettings:
    """What the loop needs of `train.*` (and the seed, which fixes each epoch's batch order)."""

    epochs: int
    batch_size: int
    seed: int
    grad_accum_steps: int = 1
    max_grad_norm: float | None = None
    nonfinite_loss: str = "stop"          # stop | skip
    log_every_steps: int = 20
    checkpoint_every_steps: int = 0       # 0: only at the end of each epoch
    length_bucketing: bool = True
    evals_per_epoch: int = 1              # validations an epoch, evenly spaced; the last at its end

    @classmethod
    def from_train(cls, train: DictConfig, seed: int) -> LoopSettings:
        return cls(epochs=train.epochs, batch_size=train.batch_size, seed=seed,
                   grad_accum_steps=train.grad_accum_steps, max_grad_norm=train.max_grad_norm,
                   nonfinite_loss=train.nonfinite_loss, log_every_steps=train.log_every_steps,
                   checkpoint_every_steps=train.checkpoint.every_steps, length_bucketing=train.length_bucketing,
                   evals_per_epoch=train_setting(train, "evals_per_epoch"))


def eval_points(n_batches: int, evals: int, accum: int = 1) -> list[int]:
    """After how many of an epoch's `n_batches` to validate: `evals` evenly spaced points, the last at the end.

    Each point is moved up to an optimiser step (a multiple of `accum`), so no gradient is left half-accumulated;
    points that fall together count once.
    """
    points = {min(n_batches, math.ceil(math.ceil(j * n_batches / evals) / accum) * accum)
              for j in range(1, evals + 1)}
    return sorted(points)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits.float(), labels)


# loss(logits, labels, batch) -> scalar; `batch` carries the inputs for losses that need them (distillation)
Loss = Callable[[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]


class Trainer:
    """One model, its optimiser and schedule, and the loop over token-id batches that trains it."""

    def __init__(self, model: torch.nn.Module, optimizer, scheduler, settings: LoopSettings, device: torch.device,
                 amp_dtype: torch.dtype | None = None, loss: Loss = cross_entropy, state: LoopState | None = None,
                 progress: bool = True, label: str = "epoch"):
        self.model, self.optimizer, self.scheduler, self.settings = model, optimizer, scheduler, settings
        self.device, self.amp_dtype, self.loss = device, amp_dtype, loss
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
        self.state = state or LoopState()
        self.net = model          # the model, or its DDP wrapper (ddp.wrap)
        self.best_weights: dict[str, torch.Tensor] | None = None  # a CPU copy of the best epoch's weights
        self.progress, self.label = progress and ddp.is_main(), label  # label: the progress bar's name

    def fit(self, data: TokenSplit, pad_id: int, validate: Callable[[], dict[str, float]],
            trainable: Callable[[int], int], early_stopping: DictConfig, on_log: Callable[[dict], None] | None = None,
            on_eval: Callable[[dict, int], None] | None = None,
            on_checkpoint: Callable[[], None] | None = None) -> None:
        """Epochs from `state.epoch` on: train, validate (rank 0) at each evaluation point, keep the best,
        checkpoint, stop early after `patience` validations without a gain.

        `trainable(epoch)` sets this epoch's frozen layers and returns the trainable parameter count;
        `on_eval(row, n)` gets each validation's history row and its number (1, 2, ...).
        """
        metric, patience = early_stopping.metric, early_stopping.patience

        def evaluate(epoch: int, done: int, total: int, extra: dict[str, Any]) -> bool:
            """Validate after `done` of the epoch's `total` batches; True when early stopping ends the training."""
            val = validate() if ddp.is_main() else None  # rank 0 alone, on the whole split: as one process
            row = self.record(epoch, done, total, val, extra, metric, early_stopping.threshold)
            if row is not None and on_eval:
                on_eval(row, len(self.state.history))
            if on_checkpoint:
                on_checkpoint()
            return ddp.broadcast(self.state.bad_evals >= patience)  # rank 0 decides; every rank stops with it

        for epoch in range(self.state.epoch, self.settings.epochs):
            extra = {"trainable_params": trainable(epoch)}
            if self.run_epoch(epoch, data.ids, data.labels, data.lengths, pad_id, on_log, on_checkpoint,
                              on_eval=partial(evaluate, epoch, extra=extra)):
                log.info("early stopping: no %s gain in %d validation(s)", metric, patience)
                break

    def run_epoch(self, epoch: int, ids: list[list[int]], labels: np.ndarray, lengths: np.ndarray, pad_id: int,
                  on_log: Callable[[dict], None] | None = None, on_checkpoint: Callable[[], None] | None = None,
                  on_eval: Callable[[int, int], bool] | None = None) -> bool:
        """Train from `state.batch` to the end of epoch `epoch`; its timing and tallies go into `state`.

        With `on_eval`, call `on_eval(done, total)` at each of the epoch's evaluation points (`eval_points`, the
        last at its end) and stop at once, returning True, when it does.
        """
        s, state = self.settings, self.state
        self.net = ddp.wrap(self.model, self.device, self.net)  # after the epoch's freezing: see ddp.wrap
        batches = ddp.shard(train_batches(lengths, s.batch_size, s.seed, epoch, s.length_bucketing))
        points = set(eval_points(len(batches), s.evals_per_epoch, s.grad_accum_steps)) if on_eval else set()
        self.model.train()
        started = time.perf_counter()
        bar = tqdm(total=len(batches), initial=state.batch, desc=f"{self.label} {epoch + 1}/{s.epochs}", unit="batch",
                   mininterval=2, disable=not self.progress)
        for b in range(state.batch, len(batches)):
            stepping = (b + 1) % s.grad_accum_steps == 0 or b + 1 == len(batches)
            batch = {k: v.to(self.device) for k, v in collate(ids, batches[b], pad_id).items()}
            with ddp.syncing(self.net, stepping):  # forward and backward of a micro-batch that steps: all-reduce
                with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                    enabled=self.amp_dtype is not None):
                    logits = self.net(**batch).logits
                loss = self.loss(logits, torch.as_tensor(labels[batches[b]], device=self.device), batch)
                finite = ddp.all_true(bool(torch.isfinite(loss)))  # a batch is skipped on every rank or none
                if finite:
                    self.scaler.scale(loss / s.grad_accum_steps).backward()
            if finite:
                state.loss_sum += loss.item()
                state.loss_n += 1
                state.tokens += int(batch["attention_mask"].sum())
                bar.update(1)
                if stepping:
                    self._step(b, loss, bar, on_log, on_checkpoint)
            else:
                self._skip(loss, epoch, b)
            if b + 1 in points and b + 1 < len(batches):  # a validation inside the epoch: its time is not training
                self._close_interval(epoch, started, whole_epoch=False)
                state.batch = b + 1
                stop = on_eval(b + 1, len(batches))
                self.model.train()
                started = time.perf_counter()
                if stop:
                    bar.close()
                    return True
        bar.close()
        self._close_interval(epoch, started, whole_epoch=len(points) < 2)
        return bool(on_eval and on_eval(len(batches), len(batches)))

    def _close_interval(self, epoch: int, started: float, whole_epoch: bool) -> None:
        """Pool the batches since the last validation (rank 0 then holds the sums over all ranks) and add their
        time; refuse an interval in which every batch had a non-finite loss."""
        totals = self.state.pool()
        if totals["loss_n"] == 0:
            which = "" if whole_epoch else " since the last validation"
            raise PipelineError(f"train: every batch of epoch {epoch + 1}{which} had a non-finite loss "
                                f"({totals['skipped']} skipped); the model or data is broken: lower train.lr or "
                                f"check model.name_or_path")
        self.state.seconds += time.perf_counter() - started

    def _skip(self, loss: torch.Tensor, epoch: int, b: int) -> None:
        if self.settings.nonfinite_loss != "skip":
            raise PipelineError(f"train: loss became {ddp.mean(loss.item())} at step {self.state.step} (epoch "
                                f"{epoch + 1}, batch {b + 1}, lr {self.scheduler.get_last_lr()[0]:.2e}); lower "
                                f"train.lr, set train.max_grad_norm, or set train.nonfinite_loss=skip")
        self.optimizer.zero_grad(set_to_none=True)
        self.state.skipped += 1
        log.warning("non-finite loss at epoch %d batch %d: batch skipped (%d so far)", epoch + 1, b + 1,
                    self.state.skipped)

    def _step(self, b: int, loss: torch.Tensor, bar, on_log, on_checkpoint) -> None:
        """Clip, step, schedule; log and checkpoint on their cadence."""
        s, state = self.settings, self.state
        if s.max_grad_norm:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.batch = b + 1
        if state.step % s.log_every_steps == 0:
            point = {"step": state.step, "train_loss": ddp.mean(loss.item()),  # mean over ranks
                     "lr": self.scheduler.get_last_lr()[0]}
            state.steps.append(point)
            if on_log and ddp.is_main():
                on_log(point)
            bar.set_postfix(loss=f"{point['train_loss']:.4f}")
        if on_checkpoint and s.checkpoint_every_steps and state.step % s.checkpoint_every_steps == 0:
            on_checkpoint()

    def record(self, epoch: int, done: int, total: int, val: dict[str, float] | None, extra: dict[str, Any],
               metric: str, threshold: float) -> dict[str, Any] | None:
        """Record a validation after `done` of epoch `epoch`'s `total` batches (rank 0 passes its metrics); returns
        its history row on rank 0. Its `epoch` is where training stood: 2 at the end of the second, 1.5 half-way.

        A gain of more than `threshold` in `val[metric]` makes it the best so far: `best_weights` gets a copy.
        """
        state, row = self.state, None
        at = epoch + 1 if done >= total else round(epoch + done / total, 3)
        if val is not None:
            row = {"epoch": at, "train_loss": round(state.loss_sum / max(state.loss_n, 1), 6),
                   **{f"val_{k}": v for k, v in val.items()}, **extra}
            state.history.append(row)
            if val[metric] > state.best + threshold:
                state.best, state.best_epoch, state.bad_evals = val[metric], at, 0
                self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
            else:
                state.bad_evals += 1
        state.loss_sum, state.loss_n = 0.0, 0
        if done >= total:
            self.end_epoch(epoch)
        return row

    def end_epoch(self, epoch: int) -> None:
        """Epoch `epoch` is over: the next run_epoch starts the following one from its first batch."""
        state = self.state
        state.epoch, state.batch, state.loss_sum, state.loss_n = epoch + 1, 0, 0.0, 0

    def state_dicts(self) -> dict[str, Any]:
        """What a checkpoint holds besides the loop state and the RNG streams."""
        return {"loop": self.state.to_dict(), "best_weights": self.best_weights, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dicts(self, saved: dict[str, Any]) -> None:
        """Continue from a checkpoint (`state_dicts` plus the loop state); ranks > 0 restart their tallies."""
        for obj, key in ((self.model, "model"), (self.optimizer, "optimizer"), (self.scheduler, "scheduler"),
                         (self.scaler, "scaler")):
            obj.load_state_dict(saved[key])
        self.state = LoopState(**saved["loop"])
        self.best_weights = saved["best_weights"]
        if not ddp.is_main():
            for key in COUNTERS:  # the saved tallies are totals, carried by rank 0 alone
                setattr(self.state, key, type(getattr(self.state, key))(0))


def steps_per_epoch(n_rows: int, batch_size: int, grad_accum_steps: int) -> int:
    """Optimiser steps of one epoch on this rank (ddp.shard gives each rank its share of the batches)."""
    return math.ceil(math.ceil(math.ceil(n_rows / batch_size) / ddp.world_size()) / grad_accum_steps)


def summary(state: LoopState, n_train: int, planned_epochs: int, method: dict[str, Any]) -> dict[str, Any]:
    """metrics/train.json: the best epoch's validation figures, the method's sizes, and how training went."""
    best = next(row for row in state.history if row["epoch"] == state.best_epoch)
    epochs_run = state.history[-1]["epoch"]  # 2.5 when early stopping came half-way through the third epoch
    return {"best_epoch": state.best_epoch, "epochs_run": epochs_run, "stopped_early": epochs_run < planned_epochs,
            "skipped_steps": state.skipped,
            **{k: float(v) for k, v in best.items() if k.startswith("val_")}, **method,
            "seconds": round(state.seconds, 1), "seconds_per_epoch": round(state.seconds / epochs_run, 1),
            "samples_per_second": round(n_train * epochs_run / max(state.seconds, 1e-9), 2),
            "tokens_per_second": round(state.tokens / max(state.seconds, 1e-9), 1)}
