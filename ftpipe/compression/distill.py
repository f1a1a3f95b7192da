"""distilled: a shallower student initialised from the teacher's own layers, trained on its soft labels."""
from __future__ import annotations

import copy
import re

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from ftpipe.infra.errors import PipelineError
from ftpipe.training.batching import TokenSplit
from ftpipe.training.loop import LoopSettings, Trainer, steps_per_epoch
from ftpipe.training.optim import build_optimizer, build_scheduler, embeddings

LAYER_KEY = re.compile(r"(\.layer\.)(\d+)(\.)")


def kept_layers(teacher_layers: int, student_layers: int) -> list[int]:
    """Evenly spaced teacher layers, starting at the first: 6 -> 3 keeps 0, 2, 4."""
    if not 1 <= student_layers <= teacher_layers:
        raise PipelineError(f"compress.distill.layers: must be between 1 and the teacher's {teacher_layers}, "
                            f"got {student_layers}")
    return [i * teacher_layers // student_layers for i in range(student_layers)]


def make_student(teacher: torch.nn.Module, layers: int) -> torch.nn.Module:
    """Same architecture with fewer layers; embeddings, head and the kept layers copied from the teacher."""
    keep = kept_layers(teacher.config.num_hidden_layers, layers)
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = layers
    student = type(teacher)(config)
    renumber = {str(old): str(new) for new, old in enumerate(keep)}
    state = {}
    for key, value in teacher.state_dict().items():
        found = LAYER_KEY.search(key)
        if found is None:
            state[key] = value
        elif found.group(2) in renumber:
            state[key[:found.start(2)] + renumber[found.group(2)] + key[found.end(2):]] = value
    student.load_state_dict(state, strict=True)
    return student


def distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                 temperature: float, alpha: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, soft, hard). soft = T^2 * KL(teacher_T || student_T), T^2 keeping its gradient scale
    comparable to the hard cross-entropy as T grows; total = alpha * soft + (1 - alpha) * hard."""
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1),
                    F.log_softmax(teacher_logits / temperature, dim=-1),
                    log_target=True, reduction="batchmean") * temperature ** 2
    hard = F.cross_entropy(student_logits, labels)
    return alpha * soft + (1 - alpha) * hard, soft, hard


def train_student(student, teacher, tokenizer, texts: list[str], labels: list[int], settings, seed: int,
                  progress: bool = True) -> list[float]:
    """Train `student` on the teacher's soft labels with the project's training loop; the loss of every step.

    The same loop as the train stage (training.loop.Trainer): length-bucketed batches of unpadded ids, AdamW
    without decay on biases and norms, a linear schedule; only the loss differs.
    """
    if settings.get("freeze_embeddings", False):
        # the teacher's fine-tuned embeddings, kept as they are: no dense gradient and no AdamW step over the
        # 11.7 M-parameter word table, of which a batch touches a few hundred rows
        for param in embeddings(student).parameters():
            param.requires_grad_(False)
    ids = tokenizer(list(texts), truncation=True, max_length=int(settings.max_length))["input_ids"]
    data = TokenSplit(ids, np.asarray(labels, dtype=np.int64), np.fromiter(map(len, ids), dtype=np.int64))
    loop = LoopSettings(epochs=int(settings.epochs), batch_size=int(settings.batch_size), seed=seed, log_every_steps=1)
    recipe = OmegaConf.create({"optimizer": "adamw", "lr": float(settings.lr), "weight_decay": 0.01,
                               "momentum": 0.0, "layerwise_lr_decay": 1.0, "scheduler": "linear", "warmup_ratio": 0.0})
    optimizer = build_optimizer(student, recipe)
    total = steps_per_epoch(len(ids), loop.batch_size, 1) * loop.epochs
    teacher.eval()
    trainer = Trainer(student, optimizer, build_scheduler(optimizer, recipe, total), loop, torch.device("cpu"),
                      loss=soft_label_loss(teacher, float(settings.temperature), float(settings.alpha)),
                      progress=progress, label="distill")
    torch.manual_seed(seed)
    for epoch in range(loop.epochs):
        trainer.run_epoch(epoch, data.ids, data.labels, data.lengths, tokenizer.pad_token_id)
        trainer.end_epoch(epoch)
    return [point["train_loss"] for point in trainer.state.steps]


def soft_label_loss(teacher: torch.nn.Module, temperature: float, alpha: float):
    """The Trainer's loss for distillation: the teacher's logits on the same batch, then `distill_loss`."""
    def loss(logits: torch.Tensor, labels: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = teacher(**batch).logits
        return distill_loss(logits.float(), teacher_logits.float(), labels, temperature, alpha)[0]
    return loss
