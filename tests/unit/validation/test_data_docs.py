"""The Data Docs page we log renders without the internet: real Great Expectations, the shipped suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_provider.validation.engine import validate_frame
from tests.helpers.html_refs import external_loads


def test_page_loads_nothing_from_elsewhere_and_stays_readable(credit_suite: Any, clean_credit: Any,
                                                               tmp_path: Path) -> None:
    report = validate_frame(clean_credit, credit_suite, model="credit_default", data_docs_dir=tmp_path)
    assert report.data_docs is not None
    page = report.data_docs.read_text()

    assert external_loads(page) == []
    assert "<style>" in page and ".table th" in page, "a stylesheet of its own stands in for Bootstrap"
    assert "expect_column_values_to_not_be_null" in page or "values must never be null" in page
    assert "credit_score" in page


def test_failures_stay_visible(credit_suite: Any, clean_credit: Any, tmp_path: Path) -> None:
    broken = clean_credit.assign(region="XX")
    report = validate_frame(broken, credit_suite, model="credit_default", data_docs_dir=tmp_path)
    assert report.data_docs is not None
    page = report.data_docs.read_text()

    assert external_loads(page) == []
    assert "XX" in page and "text-danger" in page


def test_helper_finds_what_gx_loads() -> None:
    """The check itself: what Great Expectations' own page loads is found, plain links are not."""
    page = ('<head><link rel="stylesheet" href="https://cdn.example/b.css"><script src="//cdn.example/j.js">'
            "</script><style>@import url('https://f.example/x.css'); a{background:url(https://s3.example/l.png)}"
            '</style></head><body><a href="https://greatexpectations.io">GX</a>'
            '<img src="https://s3.example/logo.png"><div style="background:url(data:image/png;base64,AA)"></div>'
            "</body>")
    assert external_loads(page) == ["<link href=https://cdn.example/b.css>", "<script src=//cdn.example/j.js>",
                                    "https://f.example/x.css", "https://s3.example/l.png",
                                    "<img src=https://s3.example/logo.png>"]
