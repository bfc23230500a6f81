"""The metric names the performance module knows, which way each is better, and its one error type."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_provider.exceptions import EvaluationError

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

# The first name of each task is not special: the gate metric is whatever the model config names.
METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}
# CBPE estimates what an expected confusion matrix (or expected ROC curve) gives; log_loss needs labels.
ESTIMABLE: tuple[str, ...] = ("roc_auc", "accuracy", "precision", "recall", "f1")
SCORE_METRICS = frozenset({"roc_auc", "log_loss"})
_LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})


class PerformanceError(EvaluationError, ValueError):
    """Performance could not be computed: unknown metric or task, a missing column, an empty frame.

    A ValueError too, so callers that validate arguments the usual way catch it."""


def check_metric(metric: str, allowed: Iterable[str], what: str) -> None:
    allowed = tuple(allowed)
    if metric not in allowed:
        raise PerformanceError(f"metric {metric!r} is not supported by {what}; use one of: {', '.join(allowed)}")


def higher_is_better(metric: str) -> bool:
    """True for accuracy, precision, recall, f1, roc_auc and r2; False for log_loss, rmse and mae."""
    check_metric(metric, (name for names in METRICS_BY_TASK.values() for name in names), "higher_is_better")
    return metric not in _LOWER_IS_BETTER


def require_columns(frame: pd.DataFrame, columns: Iterable[str], frame_name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise PerformanceError(f"{frame_name} has no column {', '.join(map(repr, missing))} "
                               f"(columns: {', '.join(map(str, frame.columns[:20]))})")
