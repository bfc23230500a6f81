"""Runs Evidently 0.7's DataDriftPreset the way a user would and returns its verdicts in our engine's terms.

Used by the drift tests and `bench/drift.py` as the peer the engine must agree with. Importing this module
imports Evidently (about 4 s), so import it once per process.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from evidently import Report
from evidently.legacy.calculations.stattests.registry import _registered_stat_tests
from evidently.presets import DataDriftPreset

# Evidently reports a test by its display name ("K-S p_value"); our engine by its registry name ("ks").
TEST_NAMES = {
    stattest.display_name: name for name, by_type in _registered_stat_tests.items() for stattest in by_type.values()
}
COLUMN_TYPES = {"num": "numerical", "cat": "categorical", "text": "text"}


def evidently_drift(reference: pd.DataFrame, current: pd.DataFrame, **preset: Any) -> dict[str, Any]:
    """`Report([DataDriftPreset(**preset)]).run(current, reference)`, reduced to plain values.

    Per column: the test name, score, threshold, verdict and type from the dataset drift computation that
    DriftedColumnsCount uses; `value_drift` holds the scores of the per-column ValueDrift metrics, which
    Evidently computes separately (they must agree).
    """
    snapshot = Report([DataDriftPreset(**preset)]).run(current, reference)
    dataset = next(
        result for result, _ in snapshot.context._legacy_metrics.values() if hasattr(result, "drift_by_columns")
    )
    columns = {
        name: {
            "test": TEST_NAMES[column.stattest_name],
            "score": float(column.drift_score),
            "threshold": float(column.stattest_threshold),
            "drifted": bool(column.drift_detected),
            "column_type": COLUMN_TYPES.get(column.column_type, column.column_type),
        }
        for name, column in dataset.drift_by_columns.items()
    }
    value_drift = {}
    for metric in snapshot.dict()["metrics"]:
        if metric["config"]["type"].endswith(":ValueDrift"):
            value_drift[metric["config"]["column"]] = float(metric["value"])
    return {
        "dataset_drifted": bool(dataset.dataset_drift),
        "drift_share": float(dataset.share_of_drifted_columns),
        "number_of_columns": int(dataset.number_of_columns),
        "number_of_drifted_columns": int(dataset.number_of_drifted_columns),
        "columns": columns,
        "value_drift": value_drift,
    }
