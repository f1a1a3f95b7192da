"""Class probabilities from a classifier over unpadded token ids: length-sorted batches, input order restored."""
from __future__ import annotations

import numpy as np
import torch

from ftpipe.training.batching import collate, inference_batches


@torch.inference_mode()
def predict_logits(model, ids: list[list[int]], batch_size: int, device: torch.device, pad_id: int,
                   autocast_dtype: torch.dtype | None = None) -> np.ndarray:
    """Class logits (float32) for every example, in input order."""
    was_training = model.training
    model.eval()
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    logits = np.zeros((len(ids), model.config.num_labels), dtype=np.float32)
    for index in inference_batches(lengths, batch_size):
        batch = {k: v.to(device) for k, v in collate(ids, index, pad_id).items()}
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            logits[index] = model(**batch).logits.float().cpu().numpy()
    model.train(was_training)
    return logits


def predict_probs(model, ids: list[list[int]], batch_size: int, device: torch.device, pad_id: int,
                  autocast_dtype: torch.dtype | None = None) -> np.ndarray:
    """Class probabilities for every example, in input order."""
    return torch.softmax(torch.from_numpy(predict_logits(model, ids, batch_size, device, pad_id, autocast_dtype)),
                         dim=-1).numpy()
