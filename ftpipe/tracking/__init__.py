"""MLflow: the one run per model that train, evaluate and compress share, and runs never left RUNNING."""
