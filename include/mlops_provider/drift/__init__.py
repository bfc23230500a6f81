"""The drift engine: Evidently 0.7's DataDriftPreset verdicts from plain numpy/scipy/pandas, much faster.

`detect_drift(reference, current)` compares two DataFrames (or a saved `ReferenceProfile` with a DataFrame)
column by column; see `engine` for what is reproduced from Evidently and `stattests` for the tests.
No Airflow and no Evidently imports here.
"""

from __future__ import annotations

from mlops_provider.drift.engine import detect_drift
from mlops_provider.drift.profile import ReferenceProfile
from mlops_provider.drift.result import ColumnDrift, DriftResult
from mlops_provider.drift.stattests import STATTESTS, StatTest

__all__ = ["STATTESTS", "ColumnDrift", "DriftResult", "ReferenceProfile", "StatTest", "detect_drift"]
