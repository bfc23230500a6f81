"""The outcome of a drift comparison: per-column verdicts, the dataset verdict, and JSON/summary forms."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mlops_provider.drift.stattests import STATTESTS

SUMMARY_MAX_COLUMNS = 10


@dataclass(frozen=True)
class ColumnDrift:
    """One column's test: its name (`ks`, `wasserstein`, ...), score, threshold, and whether it drifted."""

    test: str
    score: float
    threshold: float
    drifted: bool
    column_type: str = "numerical"

    def describe(self) -> str:
        """`wasserstein 0.31 >= 0.1`, `ks p=0.0012 <= 0.05`."""
        return STATTESTS[self.test].describe(self.score, self.threshold)

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "score": _json_float(self.score),
            "threshold": self.threshold,
            "drifted": self.drifted,
            "column_type": self.column_type,
        }


@dataclass(frozen=True)
class DriftResult:
    """The dataset drifts when the share of drifted columns reaches `drift_share_threshold` (>=, as in
    Evidently). `skipped_columns` names columns of the current data that were not tested, and why."""

    dataset_drifted: bool
    drift_share: float
    columns: dict[str, ColumnDrift]
    number_of_columns: int
    number_of_drifted_columns: int
    reference_rows: int
    current_rows: int
    drift_share_threshold: float = 0.5
    skipped_columns: dict[str, str] = field(default_factory=dict)

    @property
    def drifted_columns(self) -> list[str]:
        return [name for name, column in self.columns.items() if column.drifted]

    def summary(self) -> str:
        """One line: `3 of 13 columns drifted (23% < 50%: no dataset drift): income (wasserstein 0.31 >= 0.1), ...`."""
        verdict = (
            f"{self.drift_share:.0%} >= {self.drift_share_threshold:.0%}: dataset drift"
            if self.dataset_drifted
            else f"{self.drift_share:.0%} < {self.drift_share_threshold:.0%}: no dataset drift"
        )
        text = f"{self.number_of_drifted_columns} of {self.number_of_columns} columns drifted ({verdict})"
        drifted = self.drifted_columns
        if drifted:
            shown = [f"{name} ({self.columns[name].describe()})" for name in drifted[:SUMMARY_MAX_COLUMNS]]
            more = len(drifted) - len(shown)
            text += ": " + ", ".join(shown) + (f", and {more} more" if more else "")
        if self.skipped_columns:
            text += f"; not tested: {', '.join(self.skipped_columns)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (strict JSON: a non-finite score becomes null), for XCom and asset event extras."""
        return {
            "dataset_drifted": self.dataset_drifted,
            "drift_share": self.drift_share,
            "drift_share_threshold": self.drift_share_threshold,
            "number_of_columns": self.number_of_columns,
            "number_of_drifted_columns": self.number_of_drifted_columns,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "columns": {name: column.to_dict() for name, column in self.columns.items()},
            "skipped_columns": dict(self.skipped_columns),
            "summary": self.summary(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftResult:
        """The inverse of `to_dict` (the summary is recomputed)."""
        columns = {
            name: ColumnDrift(
                test=column["test"],
                score=math.nan if column["score"] is None else float(column["score"]),
                threshold=float(column["threshold"]),
                drifted=bool(column["drifted"]),
                column_type=column.get("column_type", "numerical"),
            )
            for name, column in data["columns"].items()
        }
        return cls(
            dataset_drifted=bool(data["dataset_drifted"]),
            drift_share=float(data["drift_share"]),
            columns=columns,
            number_of_columns=int(data["number_of_columns"]),
            number_of_drifted_columns=int(data["number_of_drifted_columns"]),
            reference_rows=int(data["reference_rows"]),
            current_rows=int(data["current_rows"]),
            drift_share_threshold=float(data.get("drift_share_threshold", 0.5)),
            skipped_columns=dict(data.get("skipped_columns", {})),
        )


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None
