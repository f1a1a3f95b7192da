"""The benchmarks' own arithmetic: FLOP counts against hand counts, and the pruning replay's accounting.
The scripts' smoke runs are in integration/test_bench_smoke.py and e2e/test_bench_pipeline.py. No test asserts
a timing."""
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


def _curve(f1s: list[float], seconds: float) -> dict:
    return {"state": "COMPLETE", "seconds": seconds,
            "epochs": [{"epoch": i + 1, "val_macro_f1": v, "val_loss": 1 - v, "at_s": 10.0 * (i + 1)}
                       for i, v in enumerate(f1s)]}


def test_pruning_replay_charges_a_stopped_trial_up_to_its_epoch_and_never_prunes_a_last_epoch():
    from bench.pruning_replay import PRUNERS, replay

    median = PRUNERS["median, 2 startup trials (the default)"]
    good = [_curve([0.6, 0.8, 0.9], 40.0), _curve([0.6, 0.7, 0.85], 40.0)]
    weak = _curve([0.3, 0.4, 0.5], 40.0)
    r = replay([*good, weak], median, "val_macro_f1", exit_s=2.0)
    assert r == {"seconds": 40 + 40 + 10 + 2, "best_val_macro_f1": 0.9, "epochs": 3 + 3 + 1, "pruned": 1}
    # a one-epoch trial has only its last epoch: nothing to prune, whatever it scores
    r = replay([*good, _curve([0.1], 15.0)], median, "val_macro_f1", exit_s=2.0)
    assert r["pruned"] == 0 and r["seconds"] == 95.0
    # the loss is reported negated (the study maximises): a weak trial's high loss is pruned too
    assert replay([*good, weak], median, "val_loss", exit_s=2.0)["pruned"] == 1
