"""distilled: a shallower student initialised from the teacher's own layers, trained on its soft labels."""
from __future__ import annotations

import copy
import re

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from stages.core.errors import PipelineError

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
    """Seeded shuffled epochs with dynamic padding; returns the total loss of every step."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    batch_size, epochs = int(settings.batch_size), int(settings.epochs)
    steps = epochs * int(np.ceil(len(texts) / batch_size))
    optimizer = torch.optim.AdamW(student.parameters(), lr=float(settings.lr))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / max(1, steps))
    teacher.eval()
    student.train()
    losses: list[float] = []
    bar = tqdm(total=steps, desc="distill", disable=not progress)
    for _ in range(epochs):
        for idx in torch.randperm(len(texts), generator=generator).split(batch_size):
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                            max_length=int(settings.max_length), return_tensors="pt")
            with torch.no_grad():
                teacher_logits = teacher(**enc).logits
            target = torch.tensor([labels[i] for i in idx])
            loss, _, _ = distill_loss(student(**enc).logits, teacher_logits, target,
                                      float(settings.temperature), float(settings.alpha))
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return losses
