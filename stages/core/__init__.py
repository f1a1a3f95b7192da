"""Shared core of the pipeline stages: config, errors, atomic I/O, seeding, logging, MLflow.

Each stage module (`stages/<name>.py`) imports from here and nowhere else in `stages/`,
so there are no import cycles between stages.
"""
