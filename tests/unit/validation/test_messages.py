"""Failure phrases from GE 1.x result dicts, one per expectation type, without running GE."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlops_provider.validation.messages import describe_failures

FRAME = pd.DataFrame({"age": [30, 40], "income": [1.0, None], "region": ["north", "XX"]})


def failed(kind: str, kwargs: dict[str, Any], result: dict[str, Any] | None = None,
           exception: str | None = None) -> dict[str, Any]:
    info = ({"raised_exception": False} if exception is None
            else {"metric-id": {"exception_message": exception, "raised_exception": True}})
    return {"success": False, "expectation_config": {"type": kind, "kwargs": kwargs},
            "result": result or {}, "exception_info": info}


def phrases(*results: dict[str, Any]) -> list[str]:
    return describe_failures(results, FRAME)


def test_not_null_with_and_without_mostly() -> None:
    assert phrases(failed("expect_column_values_to_not_be_null", {"column": "income", "mostly": 0.99},
                          {"unexpected_count": 142, "unexpected_percent": 14.2})) == [
        "column 'income' 14.2% null (max 1%)"]
    assert phrases(failed("expect_column_values_to_not_be_null", {"column": "income"},
                          {"unexpected_count": 1, "unexpected_percent": 0.05})) == [
        "column 'income' 0.05% null (none allowed)"]


def test_between_with_examples_and_mostly() -> None:
    result = {"unexpected_count": 3, "unexpected_percent": 0.06, "partial_unexpected_list": [-4, 240, -4, 0]}
    assert phrases(failed("expect_column_values_to_be_between",
                          {"column": "age", "min_value": 18, "max_value": 100}, result)) == [
        "column 'age' 3 values outside [18, 100] (e.g. -4, 0, 240)"]
    assert phrases(failed("expect_column_values_to_be_between",
                          {"column": "age", "min_value": 18, "mostly": 0.999}, result)) == [
        "column 'age' 3 values (0.06%, max 0.1%) outside [18, ...) (e.g. -4, 0, 240)"]


def test_in_set_lists_the_distinct_unexpected_values_from_the_frame() -> None:
    assert phrases(failed("expect_column_values_to_be_in_set",
                          {"column": "region", "value_set": ["north", "south"]},
                          {"unexpected_count": 1, "unexpected_percent": 50.0})) == [
        "column 'region' unexpected values {'XX'} (1 rows, 50%)"]


def test_missing_column_error_becomes_one_plain_phrase() -> None:
    error = 'Error: The column "zip" in BatchData does not exist.'
    assert phrases(failed("expect_column_values_to_not_be_null", {"column": "zip"}, exception=error),
                   failed("expect_column_values_to_be_in_set", {"column": "zip", "value_set": [1]}, exception=error),
                   failed("expect_table_columns_to_match_set", {"column_set": ["zip"]},
                          {"details": {"mismatched": {"missing": ["zip"], "unexpected": ["age"]}}})) == [
        "unexpected column(s) ['age']", "column 'zip' is missing"]


def test_other_evaluation_errors_are_reported_with_their_cause() -> None:
    assert phrases(failed("expect_column_values_to_be_between", {"column": "age", "min_value": 1},
                          exception="Column values, min_value, and max_value must either be None or of the same type.")
                   ) == ["column 'age': expect_column_values_to_be_between could not be evaluated: Column values, "
                         "min_value, and max_value must either be None or of the same type."]


def test_types_rows_and_other_expectations() -> None:
    assert phrases(
        failed("expect_column_values_to_be_in_type_list", {"column": "income", "type_list": ["str"]},
               {"observed_value": "float64"}),
        failed("expect_table_row_count_to_be_between", {"min_value": 1000, "max_value": None},
               {"observed_value": 2}),
        failed("expect_column_mean_to_be_between", {"column": "age", "min_value": 50, "max_value": 60},
               {"observed_value": 35.0}),
        failed("expect_column_values_to_match_regex", {"column": "region", "regex": "^[a-z]+$"},
               {"unexpected_count": 1, "unexpected_percent": 50.0, "partial_unexpected_list": ["XX"]}),
    ) == [
        "column 'income' has type float64, expected type in [str]",
        "table has 2 rows, expected [1000, ...)",
        "column 'age': column_mean_to_be_between failed, observed 35 (expected [50, 60])",
        "column 'region': column_values_to_match_regex failed for 1 values (50%) (e.g. 'XX')",
    ]


def test_passed_results_give_no_phrase() -> None:
    passed = {**failed("expect_column_values_to_not_be_null", {"column": "age"}), "success": True}
    assert phrases(passed) == []


def test_boolean_only_results_still_name_column_and_limit() -> None:
    assert phrases(failed("expect_column_values_to_not_be_null", {"column": "income", "mostly": 0.9}),
                   failed("expect_column_values_to_be_between",
                          {"column": "age", "min_value": 0.0, "max_value": 2000000.0})) == [
        "column 'age' has values outside [0, 2000000]", "column 'income' has too many nulls (max 10%)"]
