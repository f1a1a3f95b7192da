"""Optuna over whole pipelines (ftpipe.experiments.optuna_search): the search space and the overrides it suggests
(trials as child runs and a resumed study: e2e/test_optuna_study.py)."""
from __future__ import annotations


def test_rt_optuna_space_is_the_seed_documents_space():
    from ftpipe.experiments.optuna_search import load_space

    space = load_space("rt_optuna")
    assert space["direction"] == "maximize" and space["objective"] == "val_macro_f1"
    assert space["params"]["train.lr"] == {"type": "float", "low": 1e-6, "high": 1e-4, "log": True}
    assert space["params"]["train.epochs"] == {"type": "int", "low": 1, "high": 5}
    assert space["params"]["train.batch_size"]["choices"] == [8, 16, 32]
    assert space["storage"].startswith("sqlite:///")


def test_suggest_gives_overrides_hydra_accepts():
    import optuna

    from ftpipe.config.compose import compose_config
    from ftpipe.experiments.optuna_search import load_space, suggest

    trial = optuna.create_study(direction="maximize").ask()
    overrides = suggest(trial, load_space("rt_optuna"))
    cfg = compose_config(overrides)
    assert 1e-6 <= cfg.train.lr <= 1e-4 and 1 <= cfg.train.epochs <= 5 and cfg.train.batch_size in (8, 16, 32)
