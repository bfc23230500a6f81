"""Fixtures of the drift engine tests: Evidently as the reference implementation, imported once per session."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from mlops_provider.drift import DriftResult, ReferenceProfile, detect_drift
from mlops_provider.exceptions import DriftError

RELATIVE_TOLERANCE = 1e-6
# A compact profile's scores must be this close to Evidently's (absolute), with the same tests and verdicts.
SUMMARY_TOLERANCE = 1e-3
# What a compact profile refuses for a summarised column, rather than approximate.
NEEDS_EVERY_VALUE = {"ks", "chisquare", "z"}


@pytest.fixture(scope="session")
def evidently_drift() -> Callable[..., dict[str, Any]]:
    """`tests.helpers.evidently_reference.evidently_drift`, or a skip when Evidently (the drift-reports extra) is
    absent."""
    pytest.importorskip("evidently")
    from tests.helpers.evidently_reference import evidently_drift

    return evidently_drift


@pytest.fixture(scope="session")
def matches_evidently(evidently_drift: Callable[..., dict[str, Any]]) -> Callable[..., DriftResult]:
    """Run both engines and assert Evidently's verdicts: per column the test, score (1e-6 relative), threshold,
    verdict and type, and the dataset verdict. The engine must agree with itself on an exact fitted profile, and a
    compact one (`ReferenceProfile.fit(reference)`, summaries above 1000 values) must give the same tests and
    verdicts with scores within 1e-3, or refuse a test that needs every value of a summarised column."""

    def check(reference: pd.DataFrame, current: pd.DataFrame, **options: Any) -> DriftResult:
        preset = dict(options)
        if "per_column" in preset:
            preset["per_column_method"] = preset.pop("per_column")
        expected = evidently_drift(reference, current, **preset)
        ours = detect_drift(reference, current, **options)
        assert detect_drift(ReferenceProfile.fit(reference, exact=True), current, **options) == ours
        assert set(ours.columns) == set(expected["columns"]), (ours.skipped_columns, expected["columns"])
        for name, column in expected["columns"].items():
            got = ours.columns[name]
            where = f"column {name}: ours {got}, evidently {column}"
            assert got.test == column["test"], where
            assert got.column_type == column["column_type"], where
            assert got.threshold == column["threshold"], where
            assert math.isclose(got.score, column["score"], rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-300), where
            assert got.drifted == column["drifted"], where
            assert math.isclose(expected["value_drift"][name], column["score"], rel_tol=1e-12), where
        assert ours.number_of_drifted_columns == expected["number_of_drifted_columns"]
        assert ours.drift_share == pytest.approx(expected["drift_share"])
        assert ours.dataset_drifted == expected["dataset_drifted"]
        check_compact_profile(reference, current, expected, options)
        return ours

    return check


def check_compact_profile(reference: pd.DataFrame, current: pd.DataFrame, expected: dict[str, Any],
                          options: dict[str, Any]) -> None:
    """The compact profile's verdicts against Evidently's (see `matches_evidently`)."""
    profile = ReferenceProfile.fit(reference)
    summarised = {name for name, column in profile.columns.items() if column.summary is not None}
    refusable = {name for name, column in expected["columns"].items()
                 if name in summarised and column["test"] in NEEDS_EVERY_VALUE}
    if refusable:
        with pytest.raises(DriftError, match="cannot run on this reference profile") as refused:
            detect_drift(profile, current, **options)
        assert any(f"column '{name}'" in str(refused.value) for name in refusable), refused.value
        return
    compact = detect_drift(profile, current, **options)
    for name, column in expected["columns"].items():
        got = compact.columns[name]
        where = f"column {name} (compact profile, {profile.column(name).form}): ours {got}, evidently {column}"
        assert (got.test, got.column_type, got.threshold, got.drifted) == (
            column["test"], column["column_type"], column["threshold"], column["drifted"]), where
        assert abs(got.score - column["score"]) <= SUMMARY_TOLERANCE, where
        if name not in summarised:
            assert math.isclose(got.score, column["score"], rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-300), where
    assert compact.dataset_drifted == expected["dataset_drifted"]
    assert compact.number_of_drifted_columns == expected["number_of_drifted_columns"]
