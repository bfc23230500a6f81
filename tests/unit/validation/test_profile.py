"""profile_suite: a starting suite with schema, types, null shares, ranges, sets and row bounds that its own
data and other clean batches pass, and that catches the corrupt demo batch."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_provider.config import load_model_config
from mlops_provider.demo import credit
from mlops_provider.demo.datasets import breast_cancer_frame
from mlops_provider.validation.engine import validate_frame
from mlops_provider.validation.profile import NUMERIC_TYPES, profile_suite
from mlops_provider.validation.suite import build_suite


@pytest.fixture(scope="module")
def profiled() -> dict[str, Any]:
    config = load_model_config("credit_default", check_paths=False)
    return profile_suite(credit.generate(4000, seed=7), config, source="demo")


def by_column(suite: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {e["kwargs"]["column"]: e["kwargs"] for e in suite["expectations"] if e["type"] == kind}


def test_schema_and_rows(profiled: dict[str, Any]) -> None:
    first, rows = profiled["expectations"][:2]
    assert first == {"type": "expect_table_columns_to_match_set",
                     "kwargs": {"column_set": [*credit.NUMERIC, *credit.CATEGORICAL, credit.TARGET],
                                "exact_match": True}}
    assert rows["kwargs"] == {"min_value": 2000, "max_value": 40000}
    assert profiled["name"] == "credit_default" and profiled["meta"]["rows"] == 4000


def test_types_per_column(profiled: dict[str, Any]) -> None:
    types = {c: k["type_list"] for c, k in by_column(profiled, "expect_column_values_to_be_in_type_list").items()}
    assert types == {**{c: NUMERIC_TYPES for c in [*credit.NUMERIC, credit.TARGET]},
                     **{c: ["str"] for c in credit.CATEGORICAL}}


def test_null_shares_get_a_margin_and_the_target_none(profiled: dict[str, Any]) -> None:
    nulls = by_column(profiled, "expect_column_values_to_not_be_null")
    assert nulls["age"] == {"column": "age", "mostly": 0.99}  # never null: up to 1%
    assert 0.90 < nulls["income"]["mostly"] < 0.95  # ~1% observed: up to 2p + 5%
    assert nulls["default"] == {"column": "default"}


def test_ranges_are_widened_and_stay_non_negative(profiled: dict[str, Any]) -> None:
    ranges = by_column(profiled, "expect_column_values_to_be_between")
    assert set(ranges) == set(credit.NUMERIC)
    assert ranges["age"]["min_value"] == 0 and 90 < ranges["age"]["max_value"] < 200
    assert ranges["credit_score"]["min_value"] < 500 and ranges["credit_score"]["max_value"] > 850


def test_category_sets(profiled: dict[str, Any]) -> None:
    sets = {c: k["value_set"] for c, k in by_column(profiled, "expect_column_values_to_be_in_set").items()}
    assert sets["region"] == sorted(credit.REGIONS) and sets["default"] == [0, 1]
    assert set(sets) == {*credit.CATEGORICAL, credit.TARGET}


def test_observations_are_kept_for_the_reviewer(profiled: dict[str, Any]) -> None:
    age = next(e for e in profiled["expectations"]
               if e["type"] == "expect_column_values_to_be_between" and e["kwargs"]["column"] == "age")
    assert set(age["meta"]["observed"]) == {"observed_min", "observed_max"}


def test_profiled_suite_passes_clean_data_and_catches_corruption(profiled: dict[str, Any]) -> None:
    suite = build_suite(profiled, source="profiled")
    assert validate_frame(credit.generate(4000, seed=8), suite, model="credit_default").success
    report = validate_frame(credit.generate(4000, seed=8, corrupt=True), suite, model="credit_default")
    assert not report.success
    assert any(f.startswith("column 'income' ") and "null" in f for f in report.failures)
    assert any(f.startswith("column 'region' unexpected values {'XX'}") for f in report.failures)


def test_breast_cancer_profile() -> None:
    config = load_model_config("breast_cancer", check_paths=False)
    frame = breast_cancer_frame()
    suite = profile_suite(frame, config)
    assert len(suite["expectations"]) == 2 + 30 * 3 + 3
    assert validate_frame(frame, build_suite(suite, source="bc"), model="breast_cancer").success
