"""Compression variants for the `compress` stage, one concern per module.

bundle: a variant's self-contained directory; runtime: the loader shipped in it as predict.py;
quantize / onnx_export / distill: build variants; measure: score them alike; gate: pick one;
deploy: ship it and register it in MLflow; report: table, plot data, PNG.
"""
