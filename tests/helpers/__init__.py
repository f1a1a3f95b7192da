"""Helpers the tests share, each defined once: project copies and stage runs, tiny models, data, faults, a server.

project (run commands and stages in a project copy), models (tiny BERT, Marian and poisoned models built here),
data (labelled rows and texts), config (composed config sections), faults (a ready-to-train workspace),
mlflow_server (a real `mlflow server` on a free port).
"""
