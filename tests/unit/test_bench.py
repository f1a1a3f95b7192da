"""The benchmark scripts never rot: each runs in --smoke mode (tiny model, a few rows); the FLOP count is
checked against a hand count. No test asserts a timing."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bench import flops, report


def test_non_embedding_params_match_a_hand_count_and_the_model(tiny_model_dir):
    from transformers import BertForSequenceClassification

    # h=32, 2 layers, i=64, 2 labels. Per layer: Q,K,V,O 4*(32*32+32)=4224; FFN 32*64+64+64*32+32=4192;
    # two LayerNorms 4*32=128 -> 8544. Pooler 32*32+32=1056, classifier 32*2+2=66. 2*8544+1056+66 = 18210.
    assert flops.non_embedding_params(32, 2, 64, 2) == 18210
    model = BertForSequenceClassification.from_pretrained(tiny_model_dir)
    counted = sum(p.numel() for n, p in model.named_parameters() if ".embeddings." not in n)
    assert flops.params_from_config(model.config) == counted == 18210


def test_train_flops_hand_count():
    # 10 real tokens, N=100, 2 layers, width 5, hidden 8: 10 * (6*100 + 6*2*5*8) = 10 * (600 + 480)
    assert flops.train_flops(100, 2, 8, real_tokens=10, seq_len=5) == 10_800
    batches = [np.array([5, 3]), np.array([2, 2, 1])]  # widths 5 and 2
    assert flops.batch_train_flops(100, 2, 8, batches) == 8 * (600 + 480) + 5 * (600 + 192)


def test_matmul_peak_is_positive():
    assert flops.matmul_peak(size=64, repeats=2, seconds=0.02) > 0


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("FTPIPE_BENCH_RESULTS", str(tmp_path))
    return tmp_path / "smoke"


def read(results, name):
    return json.loads((results / f"{name}.json").read_text())


def test_tokenization_and_inference_smoke(results):
    from bench import inference, tokenization

    tokenization.main(["--smoke"])
    inference.main(["--smoke"])
    assert set(read(results, "tokenization")["results"]) == {"stage tokenize_texts", "datasets.map(batched=True)",
                                                             "datasets.map (per row)"}
    rows = read(results, "inference")["results"]
    assert {"fp32@bs1", "fp32@bs32", "torch_int8@bs1", "torch_int8@bs32", "fp32_input_order@bs32"} <= set(rows)
    assert all(r["texts_per_s"] > 0 for r in rows.values())


def test_levers_smoke(results):
    from bench import levers

    levers.main(["--smoke"])
    assert len(read(results, "levers")["results"]) == len(levers.VARIANTS)


def test_train_throughput_smoke(results):
    from bench import train_throughput

    train_throughput.main(["--smoke", "--variants", "a,b,c"])
    out = read(results, "train_throughput")
    assert set(out["results"]) == {"a", "b", "c"}
    c = out["results"]["c"]
    assert c["samples"] == 32 and 0 <= c["val_accuracy"] <= 1 and c["mfu_vs_fp32_peak"] > 0
    assert "speedup_vs_a" in c and "speedup_vs_b" in c
    assert "Training throughput" in report.render(results)


@pytest.mark.slow
def test_pipeline_smoke(results):
    from bench import pipeline

    pipeline.main(["--smoke"])
    out = read(results, "pipeline")["results"]
    assert set(out["stage_seconds"]) == set(pipeline.STAGES) and out["noop_repro_seconds"] > 0
    assert "no-op" in report.render(results)
