"""The MLflow UI, in a real headless Chromium, shows a sweep's parent run, its nested child runs and their metrics.

The runs are made with the sweep code's own parent-run helper (ftpipe.experiments.parent.open_parent) and the MLflow
client, so what the browser sees is what a real sweep writes, without training anything.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

from ftpipe import ROOT
from tests.helpers.mlflow_server import mlflow_server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots (git-ignored)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# three decimals: the compare page rounds metrics to three
CHILDREN = {"job-lr1e-05": ("1e-05", 0.612), "job-lr5e-05": ("5e-05", 0.738)}


def _browser_or_skip():
    """Skip where the browser is missing, but never on CI: there a missing browser is a failure."""
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if ci:
            raise
        pytest.skip("playwright is not installed (pip install playwright==1.65.2)")
    if not CHROMIUM.is_file():
        if ci:
            pytest.fail(f"{CHROMIUM} is missing on CI: run scripts/install_browser.sh first")
        pytest.skip(f"{CHROMIUM} is missing (run scripts/install_browser.sh)")
    return sync_playwright


@contextmanager
def _ui_page(sync_playwright, db: Path, workdir: Path, width: int = 1600) -> Iterator[tuple[object, str]]:
    """(a page of headless Chromium, the base URL of an `mlflow server` on `db`). The runs table draws only the
    columns in view, so a test that adds columns asks for a wider page."""
    with mlflow_server(db, workdir) as base, sync_playwright() as pw:
        ARTIFACTS.mkdir(exist_ok=True)
        # launch() already gives the browser a fresh temporary profile (it refuses --user-data-dir)
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1000})
            page.set_default_timeout(60_000)
            yield page, base
        finally:
            browser.close()


def _make_sweep(uri: str) -> tuple[str, str, dict[str, str]]:
    """A parent run as the sweep writes it, and two finished child runs with params and metrics."""
    from mlflow.tracking import MlflowClient

    from ftpipe.experiments.parent import open_parent
    from ftpipe.experiments.settings import SweepSettings

    client = MlflowClient(uri)
    exp_id = client.create_experiment("ui-check")
    settings = SweepSettings("ui-sweep", False, "val/best_macro_f1", "max", "evaluate", None)
    parent_id = open_parent(client, exp_id, settings, ["train.lr"])
    ids = {}
    for name, (lr, f1) in CHILDREN.items():
        run = client.create_run(exp_id, run_name=name, tags={"mlflow.parentRunId": parent_id})
        client.log_param(run.info.run_id, "train.lr", lr)
        client.log_metric(run.info.run_id, "val/best_macro_f1", f1)
        client.set_terminated(run.info.run_id)
        ids[name] = run.info.run_id
    client.set_terminated(parent_id)
    return exp_id, parent_id, ids


@pytest.mark.slow  # a server and a browser: 35-50 s
def test_mlflow_ui_shows_parent_children_and_metrics(tmp_path):
    sync_playwright = _browser_or_skip()
    db = tmp_path / "mlflow.db"
    exp_id, parent_id, ids = _make_sweep(f"sqlite:///{db}")
    with _ui_page(sync_playwright, db, tmp_path) as (page, base):
        _check_runs_page(page, base, exp_id)
        page.screenshot(path=str(ARTIFACTS / "mlflow_ui_runs.png"), full_page=True)
        _check_compare_page(page, base, exp_id, parent_id, ids)
        page.screenshot(path=str(ARTIFACTS / "mlflow_ui.png"), full_page=True)
    assert (ARTIFACTS / "mlflow_ui.png").stat().st_size > 10_000


def _check_runs_page(page, base: str, exp_id: str) -> None:
    """The experiment's runs table: the parent shows; expanding it shows both children (they start collapsed)."""
    page.goto(f"{base}/#/experiments/{exp_id}/runs")
    page.get_by_text("ui-sweep", exact=True).first.wait_for()
    # the "+" button in the parent's Run Name cell (MLflow 3.x marks it with the cell renderer's component id)
    cell = page.locator("[role='gridcell']", has=page.get_by_text("ui-sweep", exact=True))
    cell.locator("button[data-component-id*='runnamecellrenderer']").first.click()
    for name in CHILDREN:
        page.get_by_text(name, exact=True).first.wait_for()


def _check_compare_page(page, base: str, exp_id: str, parent_id: str, ids: dict[str, str]) -> None:
    """The compare page lists every run with its params and metrics, so the metric values must appear."""
    runs = quote(json.dumps([parent_id, *ids.values()]))
    page.goto(f"{base}/#/compare-runs?runs={runs}&experiments={quote(json.dumps([exp_id]))}")
    page.get_by_text("val/best_macro_f1").first.wait_for()
    for name, (lr, f1) in CHILDREN.items():
        page.get_by_text(name).first.wait_for()
        page.get_by_text(str(f1)).first.wait_for()
        page.get_by_text(lr, exact=True).first.wait_for()
    page.get_by_text("ui-sweep").first.wait_for()
    # the page scrolls inside a panel, so full_page screenshots miss the metrics table unless it is scrolled to
    page.get_by_text(f"{CHILDREN['job-lr5e-05'][1]}").first.scroll_into_view_if_needed()


def _make_identified_run(db, tmp_path) -> tuple[str, str, str]:
    """A run as train and evaluate write it: its name, datasets and description from ftpipe.tracking.identity."""
    import mlflow
    import pandas as pd
    from omegaconf import OmegaConf

    from ftpipe.tracking import keys
    from ftpipe.tracking.identity import log_datasets, run_name, set_note, train_note

    source = tmp_path / "reviews.csv"
    source.write_text("text,label\n")
    cfg = OmegaConf.create({"seed": 5, "data": {"path": str(source)}, "model": {"name_or_path": "bert-base-uncased"},
                            "mlflow": {"run_name": None},
                            "train": {"lr": 3e-5, "method": {"name": "full", "lr": None}, "epochs": 2,
                                      "batch_size": 16, "scheduler": "linear", "warmup_ratio": 0.06,
                                      "optimizer": "adamw", "precision": "fp32"}})
    splits = {}
    for split, n in (("train", 40), ("validation", 10), ("test", 10)):
        splits[split] = tmp_path / f"{split}.parquet"
        pd.DataFrame({"text": [f"{split} review {i}" for i in range(n)], "label": [i % 2 for i in range(n)]}
                     ).to_parquet(splits[split])
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    exp_id = mlflow.create_experiment("identity-check", artifact_location=(tmp_path / "mlartifacts").as_uri())
    os.environ.pop("FTPIPE_RUN_NAME", None)
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name(cfg)) as active:
        log_datasets(cfg, splits)
        set_note(train_note(cfg, {"train": 40, "validation": 10}, ["neg", "pos"]))
        set_note({"Test": "accuracy 0.9000, macro-F1 0.8990, ECE 0.0400 on 10 test texts"})
        mlflow.log_metrics(keys.test(HEADLINE_TEST) | keys.compression(VARIANTS, "onnx_int8"))
    return exp_id, active.info.run_id, run_name(cfg)


HEADLINE_TEST = {"accuracy": 0.9, "macro_f1": 0.899, "ece": 0.0412}
VARIANTS = {"fp32": {"accuracy": 0.9, "delta_accuracy": 0.0, "latency_p50_ms_b1": 9.87},
            "onnx_int8": {"accuracy": 0.9, "delta_accuracy": 0.0, "latency_p50_ms_b1": 3.456}}
# README "Metrics": the columns a person adds to the runs table, and the values they then see
COLUMNS = {"test/accuracy": "0.9", "test/macro_f1": "0.899", "test/ece": "0.0412", "shipped/latency_p50_ms_b1": "3.456"}


@pytest.mark.slow  # a server and a browser
def test_mlflow_ui_shows_a_run_s_name_datasets_and_description(tmp_path):
    sync_playwright = _browser_or_skip()
    db = tmp_path / "mlflow.db"
    exp_id, run_id, name = _make_identified_run(db, tmp_path)
    assert name == "reviews-bert-base-uncased-full-lr3e-05-s5"
    with _ui_page(sync_playwright, db, tmp_path, width=2600) as (page, base):
        page.goto(f"{base}/#/experiments/{exp_id}/runs")
        page.get_by_text(name, exact=True).first.wait_for()
        page.get_by_text("reviews-train (").first.wait_for()  # the Dataset column: name (digest)
        page.get_by_role("button", name="Columns").first.click()  # as the README says: Columns, tick the keys
        for key in COLUMNS:
            page.locator(f"[title='{key}']").locator("xpath=preceding-sibling::span[contains(@class,'checkbox')]"
                                                      ).click()
        page.keyboard.press("Escape")
        grid = page.locator("[role='grid']").first
        for key, value in COLUMNS.items():
            grid.get_by_text(key, exact=True).first.wait_for()
            grid.get_by_text(value, exact=True).first.wait_for()
        page.screenshot(path=str(ARTIFACTS / "mlflow_ui_identity_runs.png"), full_page=True)
        page.goto(f"{base}/#/experiments/{exp_id}/runs/{run_id}")
        page.get_by_text("macro-F1 0.8990", exact=False).first.wait_for()  # the description, rendered
        page.get_by_text("method full, 2 epochs", exact=False).first.wait_for()
        page.get_by_text("reviews-train").first.wait_for()  # Datasets used (the others behind "+2")
        page.screenshot(path=str(ARTIFACTS / "mlflow_ui_identity_run.png"), full_page=True)
