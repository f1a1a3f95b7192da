"""The benchmarks' FLOP counts against hand counts (the scripts' smoke runs: integration/test_bench_smoke.py and
e2e/test_bench_pipeline.py). No test asserts a timing."""
from __future__ import annotations

import numpy as np

from bench import flops


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


def test_each_variant_is_compared_with_the_trainer_at_its_own_precision():
    from bench import train_throughput as tt

    assert [tt.trainer_base(v) for v in ("c", "c_bf16")] == ["b", "b_bf16"]
    assert [tt.precision(v) for v in ("b", "b_bf16", "c", "c_bf16")] == ["fp32", "bf16", "fp32", "bf16"]
