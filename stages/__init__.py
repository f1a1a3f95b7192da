"""The six DVC stages of dvc.yaml, each `python -m stages.<name>`: read params, call ftpipe, write outputs."""
