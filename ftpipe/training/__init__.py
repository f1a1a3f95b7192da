"""Fine-tuning: loading models, what trains (full, LoRA, ...), optimiser, batches, the loop, checkpoints, DDP."""
