"""The benchmark scripts never rot: each runs in --smoke mode (tiny model, a few rows). No test asserts a timing."""
from __future__ import annotations

import json

from bench import report


def read(results, name):
    return json.loads((results / f"{name}.json").read_text())


def test_tokenization_and_inference_smoke(bench_results):
    from bench import inference, tokenization

    tokenization.main(["--smoke"])
    inference.main(["--smoke"])
    assert set(read(bench_results, "tokenization")["results"]) == {"stage tokenize_texts", "datasets.map(batched=True)",
                                                             "datasets.map (per row)"}
    rows = read(bench_results, "inference")["results"]
    assert {"fp32@bs1", "fp32@bs32", "torch_int8@bs1", "torch_int8@bs32", "fp32_input_order@bs32"} <= set(rows)
    assert all(r["texts_per_s"] > 0 for r in rows.values())


def test_levers_smoke(bench_results):
    from bench import levers

    levers.main(["--smoke"])
    assert len(read(bench_results, "levers")["results"]) == len(levers.VARIANTS)


def test_train_throughput_smoke(bench_results):
    from bench import train_throughput

    train_throughput.main(["--smoke", "--variants", "a,b,c"])
    out = read(bench_results, "train_throughput")
    assert set(out["results"]) == {"a", "b", "c"}
    c = out["results"]["c"]
    assert c["samples"] == 32 and 0 <= c["val_accuracy"] <= 1 and c["mfu_vs_fp32_peak"] > 0
    assert "speedup_vs_a" in c and "speedup_vs_b" in c
    assert "Training throughput" in report.render(bench_results)
