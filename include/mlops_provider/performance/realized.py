"""Realized performance: late labels joined to logged predictions by request id, metrics per window and per served
version, with a confidence interval for the gate metric.

The join is a hash lookup (`Index.get_indexer`), not a merge, and every window is computed at once by
`kernels`. Intervals: accuracy, precision, recall and f1 by a percentile bootstrap of the window's confusion
counts (a multinomial draw of the four cells is exactly a row bootstrap for these metrics, and costs nothing);
roc_auc by DeLong's variance; log_loss, mae and rmse by the normal interval of a mean (rmse through the MSE);
r2 by a row bootstrap. All bootstraps: 200 resamples, seed 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops_provider.performance import kernels
from mlops_provider.performance.metrics import (
    METRICS_BY_TASK,
    SCORE_METRICS,
    PerformanceError,
    check_metric,
    require_columns,
)
from mlops_provider.performance.windows import Groups, Window, assign_groups

RESAMPLES = 200
SEED = 0


@dataclass(frozen=True)
class WindowPerformance:
    """One window of one served version. `value` is the gate metric, None when there is no verdict (see `note`)."""

    start: pd.Timestamp | None
    end: pd.Timestamp | None
    version: Any
    n_predictions: int
    n_labelled: int
    metric: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    metrics: dict[str, float | None] = field(default_factory=dict)
    note: str | None = None


@dataclass(frozen=True)
class RealizedPerformance:
    """The windows in order of start then version; `unmatched` counts labels whose id no prediction has."""

    metric: str
    task: str
    windows: list[WindowPerformance]
    unmatched: int

    def __iter__(self) -> Iterator[WindowPerformance]:
        return iter(self.windows)

    def __len__(self) -> int:
        return len(self.windows)

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for window in self.windows:
            row = asdict(window)
            row.update(row.pop("metrics"))
            rows.append(row)
        return pd.DataFrame(rows)


def _lookup(keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, int]:
    """(for each query the position of its last occurrence in `keys`, -1 when absent; distinct keys)."""
    if keys.dtype == object and queries.dtype == object:
        # Python caches each string's hash: join the 64-bit hashes as integers, then check every matched pair.
        # Two distinct ids with one hash (or an id labelled twice) take the exact path below.
        key_hashes = np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys))
        query_hashes = np.fromiter(map(hash, queries), dtype=np.int64, count=len(queries))
        hashed = pd.Index(key_hashes)
        if hashed.is_unique:
            found = hashed.get_indexer(query_hashes)
            hit = found >= 0
            if (keys[found[hit]] == queries[hit]).all():
                return found.astype(np.int64), len(keys)
        try:  # pandas' own hash table: one pass to build (the last occurrence wins), one to look up
            from pandas._libs.hashtable import PyObjectHashTable
        except ImportError:  # pragma: no cover - a pandas without it takes the Index path below
            pass
        else:
            table = PyObjectHashTable(max(len(keys), 1))
            table.map_locations(keys)
            return np.asarray(table.lookup(queries), dtype=np.int64), len(table)
    index = pd.Index(keys)
    positions = np.arange(len(keys))
    if not index.is_unique:
        keep = ~index.duplicated(keep="last")
        positions, index = positions[keep], index[keep]
    found = index.get_indexer(queries)
    return np.where(found >= 0, positions[np.maximum(found, 0)] if len(positions) else -1, -1), len(index)


def join_labels(prediction_ids: pd.Series, labels: pd.DataFrame, on: str, y_true: str) -> tuple[np.ndarray, int]:
    """(for each prediction the row of its label in `labels`, -1 when unlabelled; labels matching no prediction).

    A hash lookup instead of a merge. Labels without a value are ignored; when an id is labelled twice the last
    label counts (a correction)."""
    has_label = labels[y_true].notna().to_numpy()
    ids = labels[on].to_numpy()
    rows = np.arange(len(labels)) if has_label.all() else np.flatnonzero(has_label)
    found, distinct = _lookup(ids if len(rows) == len(labels) else ids[rows], prediction_ids.to_numpy())
    matched = found[found >= 0]
    unmatched = distinct - int(np.count_nonzero(np.bincount(matched, minlength=len(rows))))
    return np.where(found >= 0, rows[np.maximum(found, 0)] if len(rows) else -1, -1), unmatched


def _binary(values: np.ndarray) -> np.ndarray | None:
    """`values` as 0/1 ints when they are 0/1 (or booleans), else None."""
    if values.dtype == bool:
        return values.astype(np.int8)
    try:
        numbers = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return None
    if np.all((numbers == 0) | (numbers == 1)):
        return numbers.astype(np.int8)
    return None


def _classification(g: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None,
                    count: int, metric: str) -> tuple[dict[str, np.ndarray], dict[str, str], np.ndarray | None, Any]:
    """(metric -> per-group values, metric -> why it is missing everywhere, DeLong variance, confusion counts)."""
    true01, pred01 = _binary(y_true), _binary(y_pred)
    missing: dict[str, str] = {}
    if true01 is None or pred01 is None:
        codes, _ = pd.factorize(np.concatenate([y_true, y_pred]))
        true_codes, pred_codes = codes[:len(y_true)], codes[len(y_true):]
        values = {"accuracy": kernels.grouped_mean_var(g, (true_codes == pred_codes).astype(float), count)[1]}
        values.update(kernels.macro_counts(g, true_codes, pred_codes, count, int(codes.max(initial=0)) + 1))
        for name in SCORE_METRICS:
            missing[name] = f"{name} needs a binary classifier (labels 0/1)"
        n = np.bincount(g, minlength=count)
        hits = kernels.grouped_sum(g, (true_codes == pred_codes).astype(float), count)
        return values, missing, None, np.stack([n - hits, hits], axis=1)  # (misses, hits): accuracy only
    counts = kernels.confusion_counts(g, true01, pred01, count)
    values = kernels.confusion_metrics(counts)
    variance = None
    if scores is None:
        for name in SCORE_METRICS:
            missing[name] = f"{name} needs scores: the predictions have no score column"
    else:
        has_score = ~np.isnan(scores)
        sg, st, ss = (g, true01, scores) if has_score.all() else (g[has_score], true01[has_score], scores[has_score])
        values["roc_auc"], variance = kernels.grouped_auc(sg, st, ss, count, with_variance=metric == "roc_auc")
        _, values["log_loss"], _ = kernels.grouped_mean_var(sg, kernels.log_loss_terms(st, ss), count)
    return values, missing, variance, counts


def _regression(g: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, count: int) -> dict[str, np.ndarray]:
    error = y_pred - y_true
    n, mean, _ = kernels.grouped_mean_var(g, y_true, count)
    _, mse, _ = kernels.grouped_mean_var(g, error * error, count)
    _, mae, _ = kernels.grouped_mean_var(g, np.abs(error), count)
    deviation = y_true - mean[g]
    total = kernels.grouped_sum(g, deviation * deviation, count)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(total > 0, 1 - mse * n / total, np.nan)
    return {"rmse": np.sqrt(mse), "mae": mae, "r2": r2}


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, ignoring resamples where the metric is undefined."""
    alpha = (1 - confidence) / 2 * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN groups are reported as None anyway
        low, high = np.nanpercentile(samples, [alpha, 100 - alpha], axis=0)
    return low, high


def _normal(value: np.ndarray, variance: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    half = z * np.sqrt(variance)
    return value - half, value + half


def _interval(metric: str, task: str, *, g: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray,
              values: dict[str, np.ndarray], counts: Any, variance: np.ndarray | None, scores: np.ndarray | None,
              count: int, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    nan = np.full(count, np.nan)
    rng = np.random.default_rng(SEED)
    if metric in ("accuracy", "precision", "recall", "f1") and counts is not None:
        totals = counts.sum(axis=1)
        if counts.shape[1] == 2:  # multiclass: only accuracy has a bootstrap, as tp / (tp + fp)
            if metric != "accuracy":
                return nan, nan
            counts = np.stack([0 * totals, counts[:, 0], 0 * totals, counts[:, 1]], axis=1)
        usable = totals > 0
        draws = rng.multinomial(totals[usable].astype(np.int64), counts[usable] / totals[usable, None],
                                size=(RESAMPLES, int(usable.sum())))
        low, high = nan.copy(), nan.copy()
        low[usable], high[usable] = _percentiles(kernels.confusion_metrics(draws.astype(float))[metric], confidence)
        return low, high
    if metric == "roc_auc" and variance is not None:
        low, high = _normal(values["roc_auc"], variance, confidence)
        return np.clip(low, 0, 1), np.clip(high, 0, 1)
    binary = _binary(y_true) if scores is not None else None
    if metric == "log_loss" and scores is not None and binary is not None:
        has = ~np.isnan(scores)
        terms = kernels.log_loss_terms(binary[has], scores[has])
        n, mean, var = kernels.grouped_mean_var(g[has], terms, count)
        return _normal(mean, var / n, confidence)
    if metric in ("mae", "rmse"):
        error = (y_pred - y_true).astype(float)
        n, mean, var = kernels.grouped_mean_var(g, np.abs(error) if metric == "mae" else error * error, count)
        low, high = _normal(mean, var / n, confidence)
        return (low, high) if metric == "mae" else (np.sqrt(np.clip(low, 0, None)), np.sqrt(high))
    if metric == "r2":
        return _bootstrap_r2(g, y_true.astype(float), y_pred.astype(float), count, confidence, rng)
    return nan, nan


def _bootstrap_r2(g: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, count: int, confidence: float,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    low, high = np.full(count, np.nan), np.full(count, np.nan)
    order = np.argsort(g, kind="stable")
    bounds = np.searchsorted(g[order], np.arange(count + 1))
    for group in range(count):
        rows = order[bounds[group]:bounds[group + 1]]
        if len(rows) < 2:
            continue
        picks = rows[rng.integers(0, len(rows), size=(RESAMPLES, len(rows)))]
        truth, error = y_true[picks], y_pred[picks] - y_true[picks]
        total = ((truth - truth.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(total > 0, 1 - (error * error).sum(axis=1) / total, np.nan)
        (low[group],), (high[group],) = _percentiles(r2[:, None], confidence)
    return low, high


def _optional(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def realized_performance(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    metric: str,
    task: str = "classification",
    window: Window = None,
    on: str = "mlops_request_id",
    y_true: str = "label",
    y_pred: str = "mlops_prediction",
    y_proba: str = "mlops_score",
    timestamp: str = "mlops_timestamp",
    confidence: float = 0.95,
    min_rows: int = 1,
    version: str = "mlops_version",
) -> RealizedPerformance:
    """The gate `metric` and its companions (classification: accuracy, precision, recall, f1, roc_auc, log_loss;
    regression: rmse, mae, r2) per window and served version, on the predictions that have a label.

    roc_auc and log_loss use `y_proba`, the positive-class score (optional unless the gate metric needs it).
    A window with fewer than `min_rows` labelled rows has no value (None, with a note), never 0 or NaN;
    so has a metric that is undefined there (roc_auc on one class, precision without positive predictions)."""
    if task not in METRICS_BY_TASK:
        raise PerformanceError(f"task {task!r} is not one of: {', '.join(METRICS_BY_TASK)}")
    check_metric(metric, METRICS_BY_TASK[task], f"realized_performance for task {task!r}")
    if not 0 < confidence < 1:
        raise PerformanceError(f"confidence must be between 0 and 1, got {confidence}")
    if min_rows < 1:
        raise PerformanceError(f"min_rows must be at least 1, got {min_rows}")
    require_columns(predictions, [on, y_pred] + ([y_proba] if metric in SCORE_METRICS else []), "predictions")
    require_columns(labels, [on, y_true], "labels")

    groups = assign_groups(predictions, window, timestamp=timestamp, version=version, frame_name="predictions")
    label_rows, unmatched = join_labels(predictions[on], labels, on, y_true)
    labelled = label_rows >= 0
    g = groups.codes[labelled]
    truth = labels[y_true].to_numpy()[label_rows[labelled]]
    predicted = predictions[y_pred].to_numpy()[labelled]
    scores = (predictions[y_proba].to_numpy(dtype=float)[labelled]
              if task == "classification" and y_proba in predictions.columns else None)
    n_labelled = np.bincount(g, minlength=groups.count)

    missing: dict[str, str] = {}
    counts, variance = None, None
    if task == "classification":
        values, missing, variance, counts = _classification(g, truth, predicted, scores, groups.count, metric)
    else:
        try:
            truth, predicted = truth.astype(float), predicted.astype(float)
        except (TypeError, ValueError) as err:
            raise PerformanceError(f"regression needs numeric {y_true!r} and {y_pred!r}: {err}") from err
        values = _regression(g, truth, predicted, groups.count)
    low, high = _interval(metric, task, g=g, y_true=truth, y_pred=predicted, values=values, counts=counts,
                          variance=variance, scores=scores, count=groups.count, confidence=confidence)
    return RealizedPerformance(metric, task, _windows(groups, n_labelled, values, missing, metric, low, high,
                                                      min_rows), unmatched)


def _windows(groups: Groups, n_labelled: np.ndarray, values: dict[str, np.ndarray], missing: dict[str, str],
             metric: str, low: np.ndarray, high: np.ndarray, min_rows: int) -> list[WindowPerformance]:
    names = METRICS_BY_TASK["classification" if "accuracy" in values else "regression"]
    windows = []
    for k in range(groups.count):
        labelled = int(n_labelled[k])
        notes: list[str] = []
        if labelled == 0:
            notes.append("no labelled rows")
        elif labelled < min_rows:
            notes.append(f"only {labelled} labelled rows (min_rows={min_rows})")
        enough = labelled >= min_rows and labelled > 0
        metrics: dict[str, float | None] = {}
        for name in names:
            value = _optional(values[name][k]) if name in values and enough else None
            metrics[name] = value
            if enough and value is None:
                notes.append(missing.get(name) or _why_undefined(name))
        value = metrics[metric]
        has_interval = value is not None and not np.isnan(low[k])
        windows.append(WindowPerformance(
            start=groups.start[k], end=groups.end[k], version=groups.version[k],
            n_predictions=int(groups.n_rows[k]), n_labelled=labelled, metric=metric, value=value,
            ci_low=float(low[k]) if has_interval else None, ci_high=float(high[k]) if has_interval else None,
            metrics=metrics, note="; ".join(dict.fromkeys(notes)) or None,
        ))
    return windows


def _why_undefined(name: str) -> str:
    return {
        "roc_auc": "roc_auc undefined: the labels hold one class only",
        "precision": "precision undefined: no positive predictions",
        "recall": "recall undefined: no positive labels",
        "f1": "f1 undefined: no positive predictions or labels",
        "log_loss": "log_loss undefined: no scores",
        "r2": "r2 undefined: the labels are constant",
    }.get(name, f"{name} undefined")
