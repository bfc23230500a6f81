"""The smoke test every target runs before and after it moves traffic: the served predictions of holdout rows must
equal the registered version's own, within a p95 latency budget. Plain Python; pandas and MLflow only inside
functions."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig


@dataclass
class SmokeCheck:
    """Outcome of a smoke test: `ok` when every prediction matched and p95 latency was within budget."""

    ok: bool
    rows: int
    mismatches: int
    p95_ms: float
    budget_ms: float
    message: str


def smoke_rows(config: ModelConfig, limit: int = 50) -> pd.DataFrame:
    """Up to `limit` holdout rows of the model, as the served model receives them (features only)."""
    from mlops_provider.data import features_frame, load_batches

    _, holdout, _, _ = load_batches(config)
    return features_frame(config, holdout.head(limit)).reset_index(drop=True)


def model_predictions(model: str, version: str, rows: pd.DataFrame) -> list[Any]:
    """The registered version's own predictions for `rows` (loaded from the current tracking URI)."""
    from mlops_provider.tracking import load_version

    return _plain(load_version(model, version).predict(rows))


def split_payload(rows: pd.DataFrame) -> dict[str, Any]:
    """`rows` in MLflow's `dataframe_split` scoring format (JSON-safe: NaN becomes null)."""
    data = [[None if isinstance(v, float) and math.isnan(v) else v for v in row]
            for row in rows.astype(object).itertuples(index=False, name=None)]
    return {"dataframe_split": {"columns": list(rows.columns), "data": data}}


def smoke_test(invoke: Callable[[dict[str, Any]], list[Any]], rows: pd.DataFrame, expected: list[Any], *,
               budget_ms: float, label: str, batch: int = 1) -> SmokeCheck:
    """Send `rows` through `invoke` (payload -> predictions) `batch` rows per request; every prediction must
    equal `expected`, and the p95 request latency (after the first, warm-up request) must stay within
    `budget_ms`. A p95 over the budget is measured once more before it counts (a busy machine makes one slow
    pass; a slow model makes two). `invoke` raising counts as a failure (its message is kept)."""
    try:
        got, p95 = _send(invoke, rows, batch)
    except _SmokeRequestFailed as err:
        return SmokeCheck(False, err.rows, 0, 0.0, budget_ms, f"{label}: {err}")
    mismatches = sum(1 for a, b in zip(got, expected, strict=False) if not _equal(a, b))
    mismatches += abs(len(got) - len(expected))
    if mismatches:
        first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if not _equal(a, b)), None)
        where = "" if first is None else f" (first at row {first}: served {got[first]!r}, model {expected[first]!r})"
        return SmokeCheck(False, len(got), mismatches, p95, budget_ms,
                          f"{label}: {mismatches} of {len(expected)} predictions differ from the model's{where}")
    note = ""
    if p95 > budget_ms:
        try:
            again = _send(invoke, rows, batch)[1]
        except _SmokeRequestFailed as err:
            return SmokeCheck(False, err.rows, 0, p95, budget_ms, f"{label}: {err}")
        note, p95 = f" (measured twice: {p95:.1f} ms, then {again:.1f} ms)", min(p95, again)
    if p95 > budget_ms:
        return SmokeCheck(False, len(got), 0, p95, budget_ms,
                          f"{label}: p95 latency {p95:.1f} ms is over the budget of {budget_ms:g} ms{note}")
    return SmokeCheck(True, len(got), 0, p95, budget_ms,
                      f"{label}: {len(got)} predictions equal the model's, p95 {p95:.1f} ms "
                      f"(budget {budget_ms:g} ms){note}")


class _SmokeRequestFailed(Exception):
    def __init__(self, message: str, rows: int) -> None:
        super().__init__(message)
        self.rows = rows


def _send(invoke: Callable[[dict[str, Any]], list[Any]], rows: pd.DataFrame, batch: int) -> tuple[list[Any], float]:
    """All `rows` through `invoke`: the predictions and the p95 latency in ms (the first request not counted)."""
    got: list[Any] = []
    latencies: list[float] = []
    for start in range(0, len(rows), batch):
        chunk = rows.iloc[start:start + batch]
        began = time.perf_counter()
        try:
            got.extend(_plain(invoke(split_payload(chunk))))
        except Exception as err:
            raise _SmokeRequestFailed(f"smoke request failed after {len(got)} row(s): {err}", len(got)) from err
        latencies.append((time.perf_counter() - began) * 1000)
    return got, _percentile(latencies[1:] or latencies, 95)


def _plain(values: Any) -> list[Any]:
    """Predictions as plain Python values (numpy scalars and arrays unwrapped)."""
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    return [v.item() if hasattr(v, "item") else v for v in items]


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[index]
