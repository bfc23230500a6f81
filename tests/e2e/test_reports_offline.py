"""The package's HTML reports render in a real browser with the network off: a Data Docs page and an Evidently
drift report, opened from files while every request that would leave the machine is aborted and recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.browser import is_loopback_or_file
from tests.helpers.paths import ROOT


def render_offline(chromium: Any, path: Path, shot: Path) -> dict[str, Any]:
    """Open `path` with only local requests allowed; returns the external requests attempted and the body's
    computed font family, beside that of an unstyled page in the same browser."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def guard(route: Any) -> None:
        if is_loopback_or_file(route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", guard)
    try:
        page = context.new_page()
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_timeout(1000)  # Evidently draws its widgets from the inlined script after load
        font = page.evaluate("getComputedStyle(document.body).fontFamily")
        text = page.inner_text("body")
        page.screenshot(path=str(shot))
        page.set_content("<html><body>plain</body></html>")
        default = page.evaluate("getComputedStyle(document.body).fontFamily")
    finally:
        context.close()
    return {"blocked": blocked, "font": font, "default_font": default, "text": text}


def test_data_docs_page_renders_styled_without_the_network(chromium: Any, tmp_path: Path) -> None:
    pytest.importorskip("great_expectations")
    from mlops_provider.demo import credit
    from mlops_provider.validation.engine import validate_frame
    from mlops_provider.validation.suite import load_suite

    suite = load_suite(ROOT / "include" / "expectations" / "credit_default.json")
    report = validate_frame(credit.generate(500, seed=3).assign(region="XX"), suite, model="credit_default",
                            data_docs_dir=tmp_path)
    assert report.data_docs is not None
    seen = render_offline(chromium, Path(report.data_docs), tmp_path / "data_docs.png")
    assert seen["blocked"] == [], f"the page tried to load from elsewhere: {seen['blocked']}"
    assert seen["font"] != seen["default_font"], "the page's own stylesheet did not apply"
    assert "region" in seen["text"] and "XX" in seen["text"]
    assert (tmp_path / "data_docs.png").stat().st_size > 10_000


def test_evidently_drift_report_renders_without_the_network(chromium: Any, demo_data_dir: Path,
                                                          tmp_path: Path) -> None:
    pytest.importorskip("evidently")
    import pandas as pd

    from mlops_provider.drift.cli import main as drift_main

    train = pd.read_parquet(demo_data_dir / "credit_default" / "train.parquet")
    reference, current = train.iloc[:400], train.iloc[400:800].assign(income=lambda f: f["income"] * 1.8)
    reference.to_csv(tmp_path / "reference.csv", index=False)
    current.to_csv(tmp_path / "current.csv", index=False)
    report = tmp_path / "drift.html"
    code = drift_main([str(tmp_path / "reference.csv"), str(tmp_path / "current.csv"), "--model", "credit_default",
                       "--report", str(report)])
    assert code in (0, 1) and report.is_file()

    seen = render_offline(chromium, report, tmp_path / "drift.png")
    assert seen["blocked"] == [], f"the report tried to load from elsewhere: {seen['blocked']}"
    assert seen["font"] != seen["default_font"], "the report's inlined styles did not apply"
    assert "income" in seen["text"] and "drift" in seen["text"].lower()
