"""Model performance in production: realized on late labels, estimated (CBPE) before them. No Airflow imports.

`realized_performance(predictions, labels, metric=...)` joins labels to logged predictions by request id and
reports the metric per window and served version (`realized`); `estimate_performance(reference, current,
metric=...)` and `estimate_windows(...)` estimate a binary classifier's metric from its calibrated scores
(`cbpe`). `kernels` computes every window at once; `windows` numbers the rows by window and version.
"""

from __future__ import annotations

from mlops_provider.performance.cbpe import (
    Calibration,
    WindowEstimate,
    estimate_performance,
    estimate_windows,
    fit_calibration,
)
from mlops_provider.performance.metrics import ESTIMABLE, METRICS_BY_TASK, PerformanceError, higher_is_better
from mlops_provider.performance.realized import RealizedPerformance, WindowPerformance, realized_performance

__all__ = [
    "ESTIMABLE",
    "METRICS_BY_TASK",
    "Calibration",
    "PerformanceError",
    "RealizedPerformance",
    "WindowEstimate",
    "WindowPerformance",
    "estimate_performance",
    "estimate_windows",
    "fit_calibration",
    "higher_is_better",
    "realized_performance",
]
