"""Class probabilities from a classifier over unpadded token ids: length-sorted batches, input order restored."""
from __future__ import annotations

import numpy as np
import torch

from ftpipe.training.batching import collate, inference_batches


@torch.inference_mode()
def predict_probs(model, ids: list[list[int]], batch_size: int, device: torch.device, pad_id: int,
                  autocast_dtype: torch.dtype | None = None) -> np.ndarray:
    """Class probabilities for every example, in input order."""
    was_training = model.training
    model.eval()
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    probs = np.zeros((len(ids), model.config.num_labels), dtype=np.float32)
    for index in inference_batches(lengths, batch_size):
        batch = {k: v.to(device) for k, v in collate(ids, index, pad_id).items()}
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            logits = model(**batch).logits
        probs[index] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    model.train(was_training)
    return probs
