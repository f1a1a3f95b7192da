"""Post-training compression: build INT8, ONNX and distilled variants, measure them alike, gate and ship one.

bundle: a variant's self-contained directory; predictor: the loader shipped in it as predict.py;
quantize / onnx_export / distill: build variants; measure: score them alike; gate: pick one;
deploy: ship it and register it in MLflow; tradeoff: table, plot data, PNG.
"""
