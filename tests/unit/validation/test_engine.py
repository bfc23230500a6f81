"""validate_frame on the shipped credit suite: clean and drifted batches pass, each kind of bad batch fails
with a message naming the column and what is wrong (never a Great Expectations traceback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlops_provider.demo import credit
from mlops_provider.validation.engine import ValidationReport, validate_frame

MODEL = "credit_default"


def check(frame: Any, suite: Any) -> ValidationReport:
    return validate_frame(frame, suite, model=MODEL)


@pytest.mark.parametrize(("seed", "drift"), [(1, 0.0), (2, 0.0), (3, 0.5), (4, 1.0)])
def test_clean_and_drifted_batches_pass(credit_suite: Any, seed: int, drift: float) -> None:
    report = check(credit.generate(3000, seed=seed, drift=drift), credit_suite)
    assert report.success, report.message
    assert report.message == f"model '{MODEL}': all 44 expectations of suite '{MODEL}' passed"
    assert report.summary == {"model": MODEL, "suite": MODEL, "success": True, "evaluated": 44, "failed": 0,
                              "failures": []}


def test_corrupt_demo_batch_fails_with_a_readable_message(credit_suite: Any) -> None:
    report = check(credit.generate(5000, seed=7, corrupt=True), credit_suite)
    assert not report.success
    assert (report.evaluated, report.failed) == (44, 3)
    assert report.failures == [
        "column 'age' 3 values outside [18, 100] (e.g. -4, 0, 240)",
        "column 'income' 15.0% null (max 12%)",
        "column 'region' unexpected values {'XX'} (90 rows, 1.8%)",
    ]
    assert report.message == (f"model '{MODEL}': 3 of 44 expectations failed: " + "; ".join(report.failures))
    assert report.result["success"] is False and len(report.result["results"]) == 44


def test_missing_column(credit_suite: Any, clean_credit: Any) -> None:
    report = check(clean_credit.drop(columns=["income"]), credit_suite)
    assert report.failures == ["column 'income' is missing"]
    assert "Traceback" not in report.message and "BatchData" not in report.message


def test_extra_column(credit_suite: Any, clean_credit: Any) -> None:
    report = check(clean_credit.assign(foo=1), credit_suite)
    assert report.failed == 1
    assert report.failures == ["unexpected column(s) ['foo']"]


def test_strings_in_a_numeric_column(credit_suite: Any, clean_credit: Any) -> None:
    ages = clean_credit["age"].astype(object)
    ages[5] = "forty"
    report = check(clean_credit.assign(age=ages), credit_suite)
    assert report.failures == [
        "column 'age' has non-numeric values (e.g. 'forty'), expected type in [int32, int64, float32, float64]"]


def test_numbers_in_a_text_column(credit_suite: Any, clean_credit: Any) -> None:
    report = check(clean_credit.assign(region=clean_credit["region"].map({"north": 1}).astype(float)),
                   credit_suite)
    assert "column 'region' has type float64, expected type in [str]" in report.failures


@pytest.mark.parametrize(("column", "limit"), [("income", "max 12%"), ("region", "max 1%")])
def test_entirely_null_column(credit_suite: Any, clean_credit: Any, column: str, limit: str) -> None:
    report = check(clean_credit.assign(**{column: np.nan if column == "income" else None}), credit_suite)
    assert report.failures == [f"column '{column}' is entirely null ({limit})"]


def test_null_target_is_never_allowed(credit_suite: Any, clean_credit: Any) -> None:
    target = clean_credit["default"].astype(float)
    target[:3] = np.nan
    report = check(clean_credit.assign(default=target), credit_suite)
    assert report.failures == ["column 'default' 0.15% null (none allowed)"]


def test_many_unexpected_categories_are_summarised(credit_suite: Any, clean_credit: Any) -> None:
    purpose = clean_credit["purpose"].copy()
    start = 0
    for count, value in enumerate(["a", "b", "c", "d", "e", "f", "g"], start=1):  # 'g' 7 times, ...
        purpose.iloc[start:start + count] = value
        start += count
    report = check(clean_credit.assign(purpose=purpose), credit_suite)
    assert report.failures == ["column 'purpose' unexpected values {'g', 'f', 'e', 'd', 'c', ... 2 more} "
                               "(28 rows, 1.4%)"]


def test_pandas_categoricals_validate_like_strings(credit_suite: Any, clean_credit: Any) -> None:
    frame = clean_credit.astype({"purpose": "category", "region": "string"})
    assert check(frame, credit_suite).success


def test_row_count_bounds(credit_suite: Any, clean_credit: Any) -> None:
    report = check(clean_credit.head(500), credit_suite)
    assert report.failures == ["table has 500 rows, expected [1000, 5000000]"]


def test_long_failure_lists_are_cut(credit_suite: Any, clean_credit: Any) -> None:
    report = check(clean_credit.drop(columns=list(clean_credit.columns[:10])), credit_suite)
    assert report.failed > 8 and len(report.failures) == 10
    assert report.message.endswith("; and 2 more")


def test_data_docs_page_is_rendered(credit_suite: Any, clean_credit: Any, tmp_path: Path) -> None:
    report = validate_frame(clean_credit, credit_suite, model=MODEL, data_docs_dir=tmp_path)
    assert report.data_docs is not None and report.data_docs.suffix == ".html"
    page = report.data_docs.read_text()
    assert "Evaluated Expectations" in page and "credit_default" in page


@pytest.mark.parametrize("result_format", ["SUMMARY", "COMPLETE"])
def test_richer_result_formats_give_the_same_phrases(credit_suite: Any, result_format: Any) -> None:
    frame = credit.generate(3000, seed=5, corrupt=True)
    basic = validate_frame(frame, credit_suite, model=MODEL)
    richer = validate_frame(frame, credit_suite, model=MODEL, result_format=result_format)
    assert sorted(richer.failures) == sorted(basic.failures)


def test_boolean_only_still_names_the_columns(credit_suite: Any) -> None:
    report = validate_frame(credit.generate(3000, seed=5, corrupt=True), credit_suite, model=MODEL,
                            result_format="BOOLEAN_ONLY")
    assert report.failures[0] == "column 'age' has values outside [18, 100]"
    assert [f.split(" ")[1] for f in report.failures] == ["'age'", "'income'", "'region'"]
