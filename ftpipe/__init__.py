"""ftpipe: the library behind the six DVC stages in `stages/`, one folder per role.

infra (plumbing every stage shares), config (params.yaml), data (tables to clean splits and token ids),
augment (paraphrases of train rows), training (models, methods, the loop), evaluation (metrics and figures),
compression (INT8, ONNX, distillation; shipping), tracking (MLflow), experiments (sweeps and comparisons).
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the project checkout: conf/, dvc.yaml, stages/
