"""Confidence-based performance estimation (CBPE) of a binary classifier before its labels arrive, as NannyML
defines it (nannyml/performance_estimation/confidence_based/, nannyml/calibration.py), written anew.

1. Calibrate on the labelled reference, but only when it helps: NannyML's `needs_calibration` fits an isotonic
   regression on 9/10 of the reference in 10 stratified shuffle splits (seed 42), and calibrates when the
   expected calibration error (10 equal-count bins) of the held-out scores is lower after calibration than before.
   It skips calibration when the reference holds one class or its ROC AUC is above 0.999. The final calibrator is
   `IsotonicRegression(out_of_bounds="clip")` fitted on the whole reference.
2. On current data, p = calibrated score is the chance that the row is positive and the predicted class is
   `score >= threshold` (the raw score): the expected confusion matrix is TP = sum(p | pred 1), FP = sum(1 - p |
   pred 1), FN = sum(p | pred 0), TN = sum(1 - p | pred 0), from which accuracy, precision, recall and f1 follow
   (an undefined ratio is 0, as in NannyML).
3. roc_auc: rows sorted by raw score, descending; the expected TPR and FPR at each threshold are the cumulative
   sums of p and of 1 - p over their totals; the area is the trapezoid rule. Differences from NannyML: rows with
   equal scores form one threshold (NannyML keeps each row as a point, so the result depends on the sort's order
   of ties), and the cumulative sums are not rounded to 5 decimals; on distinct scores both agree to ~1e-6.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_provider.performance import kernels
from mlops_provider.performance.metrics import ESTIMABLE, PerformanceError, check_metric, require_columns
from mlops_provider.performance.windows import Window, assign_groups

SPLITS, HOLDOUT, SPLIT_SEED, BINS = 10, 0.1, 42, 10


@dataclass(frozen=True)
class Calibration:
    """Maps raw scores to probabilities; `isotonic` is None when the reference scores are calibrated already."""

    isotonic: Any | None

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=float)
        return scores if self.isotonic is None else np.asarray(self.isotonic.predict(scores), dtype=float)


def _bin_edges(rows: int, bins: int) -> np.ndarray:
    """Equal-count bins over `rows` sorted values, the last bin taking the remainder (NannyML's bin edges)."""
    if rows <= 2 * bins:
        bins = rows // 2
        if bins < 2:
            raise PerformanceError(f"the reference is too small to check its calibration ({rows} held-out rows)")
    edges = np.arange(0, rows + 1, rows // bins)
    edges[-1] = rows
    return edges


def _calibration_error(y_true: np.ndarray, proba: np.ndarray, edges: np.ndarray) -> float:
    order = proba.argsort()  # NannyML's default sort, so ties split across bins the same way
    proba, y_true = proba[order], y_true[order]
    sizes = np.diff(edges)
    mean_proba = np.add.reduceat(proba, edges[:-1]) / sizes
    mean_true = np.add.reduceat(y_true.astype(float), edges[:-1]) / sizes
    return float(np.sum(sizes / len(proba) * np.abs(mean_proba - mean_true)))


def _isotonic() -> Any:
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(out_of_bounds="clip", increasing=True)


def needs_calibration(y_true: np.ndarray, scores: np.ndarray) -> bool:
    """Whether isotonic calibration lowers the held-out expected calibration error (NannyML's test)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedShuffleSplit

    if len(np.unique(y_true)) == 1 or roc_auc_score(y_true, scores) > 0.999:
        return False
    splits = StratifiedShuffleSplit(n_splits=SPLITS, test_size=HOLDOUT, random_state=SPLIT_SEED)
    truths, raws, calibrated = [], [], []
    try:
        for train, test in splits.split(scores, y_true):
            isotonic = _isotonic().fit(scores[train], y_true[train])
            truths.append(y_true[test])
            raws.append(scores[test])
            calibrated.append(isotonic.predict(scores[test]))
    except ValueError as err:  # fewer than two rows of a class
        raise PerformanceError(f"the reference is too small to calibrate its scores: {err}") from err
    truth, raw, fitted = np.concatenate(truths), np.concatenate(raws), np.concatenate(calibrated)
    edges = _bin_edges(len(raw), BINS)
    return _calibration_error(truth, raw, edges) > _calibration_error(truth, fitted, edges)


def fit_calibration(reference: pd.DataFrame, *, y_true: str = "y_true", y_proba: str = "y_pred_proba") -> Calibration:
    """Calibrate once on the labelled reference; reuse the result for every window of current data."""
    require_columns(reference, [y_true, y_proba], "reference")
    if reference.empty:
        raise PerformanceError("reference has no rows: CBPE needs labelled reference predictions to calibrate on")
    truth = reference[y_true]
    scores = reference[y_proba].to_numpy(dtype=float)
    if truth.isna().any() or np.isnan(scores).any():
        raise PerformanceError(f"reference has missing values in {y_true!r} or {y_proba!r}; CBPE needs every "
                               "reference row labelled and scored")
    labels = truth.to_numpy()
    if not np.isin(labels, (0, 1)).all():
        raise PerformanceError(f"reference column {y_true!r} must hold 0/1 labels of a binary classifier, "
                               f"found {sorted(map(str, pd.unique(labels)))[:5]}")
    labels = labels.astype(np.int8)
    if not needs_calibration(labels, scores):
        return Calibration(None)
    return Calibration(_isotonic().fit(scores, labels))


def _estimates(groups: np.ndarray, scores: np.ndarray, proba: np.ndarray, count: int, metric: str,
               threshold: float) -> np.ndarray:
    """The estimated `metric` per group; NaN when undefined (roc_auc with no expected positives or negatives)."""
    if metric == "roc_auc":
        return _expected_auc(groups, scores, proba, count)
    positive = scores >= threshold
    cells = np.stack([np.where(positive, 0.0, 1 - proba), np.where(positive, 1 - proba, 0.0),
                      np.where(positive, 0.0, proba), np.where(positive, proba, 0.0)], axis=1)
    counts = np.stack([kernels.grouped_sum(groups, cells[:, k], count) for k in range(4)], axis=1)
    values = kernels.confusion_metrics(counts)[metric]
    # NannyML returns 0 when a ratio's denominator is 0 (no expected positives, say)
    return np.where(np.bincount(groups, minlength=count) > 0, np.nan_to_num(values, nan=0.0), np.nan)


def _expected_auc(groups: np.ndarray, scores: np.ndarray, proba: np.ndarray, count: int) -> np.ndarray:
    order = kernels.sort_within_groups(groups, scores, count, descending=True)
    g, s, p = groups[order], scores[order], proba[order]
    # cumulative expected positives and negatives within each group, at the last row of each run of equal scores
    true_pos = np.cumsum(p)
    false_pos = np.cumsum(1 - p)
    rows = np.bincount(g, minlength=count)
    group_end = np.cumsum(rows) - 1
    nonempty = rows > 0
    before_tp = np.zeros(count)
    before_fp = np.zeros(count)
    first = group_end[nonempty] - rows[nonempty] + 1
    before_tp[nonempty] = true_pos[first] - p[first]
    before_fp[nonempty] = false_pos[first] - (1 - p[first])
    true_pos -= before_tp[g]
    false_pos -= before_fp[g]
    last = np.empty(len(s), dtype=bool)
    last[:-1] = kernels.run_starts(g, s)[1:]
    last[-1:] = True
    kg, tp, fp = g[last], true_pos[last], false_pos[last]
    # the previous point of the curve: the group's origin (0, 0) at its first threshold
    opens = np.empty(len(kg), dtype=bool)
    opens[:1] = True
    opens[1:] = kg[1:] != kg[:-1]
    previous_tp = np.where(opens, 0.0, np.roll(tp, 1))
    previous_fp = np.where(opens, 0.0, np.roll(fp, 1))
    area = kernels.grouped_sum(kg, (fp - previous_fp) * (tp + previous_tp) / 2, count)
    total_tp = kernels.grouped_sum(g, p, count)
    total_fp = rows - total_tp
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = area / (total_tp * total_fp)
    return np.where((total_tp > 0) & (total_fp > 0), auc, np.nan)


def _current_scores(current: pd.DataFrame, y_proba: str) -> np.ndarray:
    require_columns(current, [y_proba], "current")
    if current.empty:
        raise PerformanceError("current has no rows: there is nothing to estimate performance on")
    try:
        return current[y_proba].to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise PerformanceError(f"current column {y_proba!r} is not numeric scores: {err}") from err


def estimate_performance(reference: pd.DataFrame, current: pd.DataFrame, *, metric: str, y_true: str = "y_true",
                         y_proba: str = "y_pred_proba", threshold: float = 0.5) -> float:
    """The CBPE estimate of `metric` (roc_auc, accuracy, precision, recall, f1) on unlabelled `current` rows.

    `reference` holds labelled, scored rows of the same model (`y_true` 0/1, `y_proba` the positive-class
    score); `current` needs only `y_proba`. Rows of `current` without a score are left out."""
    check_metric(metric, ESTIMABLE, "estimate_performance (CBPE)")
    scores = _current_scores(current, y_proba)
    calibration = fit_calibration(reference, y_true=y_true, y_proba=y_proba)
    scored = ~np.isnan(scores)
    if not scored.any():
        raise PerformanceError(f"current column {y_proba!r} has no scores, only missing values")
    scores = scores[scored]
    value = _estimates(np.zeros(len(scores), dtype=np.int64), scores, calibration.calibrate(scores), 1, metric,
                       threshold)[0]
    if np.isnan(value):
        raise PerformanceError(f"estimated {metric} is undefined on current: the calibrated scores expect one "
                               "class only")
    return float(value)


@dataclass(frozen=True)
class WindowEstimate:
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    version: Any
    n_predictions: int
    metric: str
    value: float | None
    note: str | None = None


def estimate_windows(reference: pd.DataFrame, current: pd.DataFrame, *, metric: str, window: Window,
                     y_true: str = "y_true", y_proba: str = "y_pred_proba", timestamp: str = "mlops_timestamp",
                     version: str = "mlops_version", threshold: float = 0.5,
                     calibration: Calibration | None = None) -> list[WindowEstimate]:
    """CBPE per window (and per served version) of `current`, windows as in `realized_performance`.

    Calibrates once (or takes a `calibration` from `fit_calibration`), then estimates every window at once."""
    check_metric(metric, ESTIMABLE, "estimate_windows (CBPE)")
    scores = _current_scores(current, y_proba)
    if calibration is None:
        calibration = fit_calibration(reference, y_true=y_true, y_proba=y_proba)
    groups = assign_groups(current, window, timestamp=timestamp, version=version, frame_name="current")
    scored = ~np.isnan(scores)
    codes = groups.codes if scored.all() else groups.codes[scored]
    scores = scores[scored]
    values = _estimates(codes, scores, calibration.calibrate(scores), groups.count, metric, threshold)
    n_scored = np.bincount(codes, minlength=groups.count)
    estimates = []
    for k in range(groups.count):
        value: float | None = float(values[k])
        note = None
        if n_scored[k] == 0:
            value, note = None, "no scored rows"
        elif np.isnan(values[k]):
            value, note = None, f"estimated {metric} undefined: the calibrated scores expect one class only"
        estimates.append(WindowEstimate(groups.start[k], groups.end[k], groups.version[k], int(groups.n_rows[k]),
                                        metric, value, note))
    return estimates
