"""`dvc plots show` draws its plots with the network off: the page DVC writes carries Vega, Vega-Lite and
Vega-Embed inline (scripts/setup_dvc_plots.sh, run by `make setup`), and a headless Chromium with every
non-file request refused still renders each plot as an SVG or canvas."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.helpers.project import ROOT, run
from tests.integration.test_mlflow_ui import CHROMIUM, FLAGS, _browser_or_skip

TEMPLATE = ROOT / ".dvc" / "offline_plots.html"


def test_dvc_plots_show_renders_offline(tmp_path):
    sync_playwright = _browser_or_skip()
    if not TEMPLATE.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{TEMPLATE} is missing on CI: `make setup` runs scripts/setup_dvc_plots.sh")
        pytest.skip(f"{TEMPLATE} is missing (run scripts/setup_dvc_plots.sh)")
    project = tmp_path / "project"
    for name in ("dvc.yaml", "dvc.lock", "params.yaml", "plots", "metrics", ".dvc/config"):  # what it reads
        src, dst = ROOT / name, project / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    run(["git", "init", "-q"], project)
    run(["dvc", "config", "--local", "plots.html_template", str(TEMPLATE)], project)
    run(["dvc", "plots", "show", "-o", "out"], project)
    page_html = (project / "out" / "index.html").read_text()
    assert "cdn.jsdelivr" not in page_html and "vega-embed" in page_html
    divs = page_html.count("vegaEmbed(")
    assert divs >= 3, divs  # confusion, reliability, compression (the train curves are DVC-cached outputs)

    refused = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = browser.new_context(offline=True)
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                          else (refused.append(route.request.url), route.abort()))
            page = context.new_page()
            page.goto((project / "out" / "index.html").as_uri())
            page.wait_for_function(f"document.querySelectorAll('svg.marks, canvas.marks').length >= {divs}",
                                   timeout=30_000)
            drawn = page.locator("svg.marks, canvas.marks").count()
        finally:
            browser.close()
    assert drawn >= divs and refused == []
