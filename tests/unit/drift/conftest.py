"""Fixtures of the drift engine tests: Evidently as the reference implementation, imported once per session."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from mlops_provider.drift import DriftResult, ReferenceProfile, detect_drift

RELATIVE_TOLERANCE = 1e-6


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
    verdict and type, and the dataset verdict. The engine must agree with itself on a fitted profile too."""

    def check(reference: pd.DataFrame, current: pd.DataFrame, **options: Any) -> DriftResult:
        preset = dict(options)
        if "per_column" in preset:
            preset["per_column_method"] = preset.pop("per_column")
        expected = evidently_drift(reference, current, **preset)
        ours = detect_drift(reference, current, **options)
        assert detect_drift(ReferenceProfile.fit(reference), current, **options) == ours
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
        return ours

    return check
