"""Metrics of every group at once: each function takes per-row arrays plus the row's group number and returns one
value per group (NaN where the metric is undefined), so a million rows in a hundred windows cost a few sorts and
bincounts instead of a hundred calls into scikit-learn. Values equal scikit-learn's to rounding."""

from __future__ import annotations

import numpy as np

# counts[..., k] with k = 2 * y_true + y_pred, scikit-learn's confusion_matrix(...).ravel() order
TN, FP, FN, TP = range(4)


def sort_within_groups(groups: np.ndarray, values: np.ndarray, count: int, *, descending: bool = False,
                       stable: bool = False) -> np.ndarray:
    """The order that sorts rows by group, then by value; rows of equal value keep their order when `stable`
    (ranks do not need it, and numpy's SIMD quicksort is several times faster than its timsort)."""
    order = np.argsort(-values if descending else values, kind="stable" if stable else "quicksort")
    # a stable sort of small ints is a radix sort: the second pass is linear
    narrow = groups.astype(np.uint16 if count <= np.iinfo(np.uint16).max else np.int64)
    return order[np.argsort(narrow[order], kind="stable")]


def run_starts(groups_sorted: np.ndarray, values_sorted: np.ndarray) -> np.ndarray:
    """True where a run of equal (group, value) begins in sorted arrays."""
    starts = np.empty(len(values_sorted), dtype=bool)
    if len(starts):
        starts[0] = True
        starts[1:] = (groups_sorted[1:] != groups_sorted[:-1]) | (values_sorted[1:] != values_sorted[:-1])
    return starts


def tied_ranks(groups_sorted: np.ndarray, values_sorted: np.ndarray, count: int) -> np.ndarray:
    """1-based ranks within each group of rows sorted by (group, value), ties given their average rank."""
    rows = len(values_sorted)
    starts = run_starts(groups_sorted, values_sorted)
    run = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.empty_like(first)
    last[:-1], last[-1:] = first[1:] - 1, rows - 1
    group_first = np.cumsum(np.bincount(groups_sorted, minlength=count)) - np.bincount(groups_sorted, minlength=count)
    middle = (first + last) / 2.0
    return middle[run] - group_first[groups_sorted] + 1.0


def grouped_sum(groups: np.ndarray, weights: np.ndarray, count: int) -> np.ndarray:
    return np.bincount(groups, weights=weights, minlength=count)


def grouped_mean_var(groups: np.ndarray, values: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, mean, variance with ddof=1) per group; two passes, so large offsets do not cancel."""
    n = np.bincount(groups, minlength=count).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = grouped_sum(groups, values, count) / n
        deviation = values - mean[groups]
        variance = grouped_sum(groups, deviation * deviation, count) / (n - 1)
    return n, mean, variance


def grouped_auc(groups: np.ndarray, y_true: np.ndarray, scores: np.ndarray, count: int,
                *, with_variance: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """ROC AUC per group from average ranks (Mann-Whitney), equal to `roc_auc_score`; NaN when a group holds one
    class only. With `with_variance`, DeLong's variance of each AUC too (DeLong et al. 1988; the positive and
    negative placement values come from ranks among all rows minus ranks among that class)."""
    order = sort_within_groups(groups, scores, count)
    g, s, y = groups[order], scores[order], y_true[order].astype(bool)
    ranks = tied_ranks(g, s, count)
    n = np.bincount(g, minlength=count).astype(float)
    n1 = grouped_sum(g, y.astype(float), count)
    n0 = n - n1
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (grouped_sum(g, ranks * y, count) - n1 * (n1 + 1) / 2) / (n1 * n0)
        auc[(n1 == 0) | (n0 == 0)] = np.nan
        if not with_variance:
            return auc, None
        positive, negative = g[y], g[~y]
        placement_pos = (ranks[y] - tied_ranks(positive, s[y], count)) / n0[positive]
        placement_neg = 1.0 - (ranks[~y] - tied_ranks(negative, s[~y], count)) / n1[negative]
        _, _, var_pos = grouped_mean_var(positive, placement_pos, count)
        _, _, var_neg = grouped_mean_var(negative, placement_neg, count)
        variance = var_pos / n1 + var_neg / n0
    return auc, variance


def confusion_counts(groups: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, count: int) -> np.ndarray:
    """(count, 4) counts of TN, FP, FN, TP per group, for 0/1 arrays."""
    cell = 4 * groups + 2 * y_true.astype(np.int64) + y_pred.astype(np.int64)
    return np.bincount(cell, minlength=4 * count).reshape(count, 4).astype(float)


def confusion_metrics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """accuracy, precision, recall and f1 from counts of shape (..., 4); NaN where a denominator is zero."""
    tn, fp, fn, tp = (counts[..., k] for k in (TN, FP, FN, TP))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "accuracy": (tp + tn) / (tn + fp + fn + tp),
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "f1": 2 * tp / (2 * tp + fp + fn),
        }


def log_loss_terms(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per-row log loss of a positive-class probability, clipped to [eps, 1-eps] the way scikit-learn's
    `log_loss` clips both columns of [1 - p, p]."""
    eps = np.finfo(proba.dtype).eps if proba.dtype.kind == "f" else np.finfo(float).eps
    positive = np.clip(proba, eps, 1 - eps)
    negative = np.clip(1 - proba, eps, 1 - eps)
    return -np.where(y_true.astype(bool), np.log(positive), np.log(negative))


def macro_counts(groups: np.ndarray, true_codes: np.ndarray, pred_codes: np.ndarray, count: int,
                 classes: int) -> dict[str, np.ndarray]:
    """Macro precision, recall and f1 per group over the classes seen in that group's labels or predictions,
    a class without predictions (or labels) counting 0 as scikit-learn's default `zero_division` does."""
    size = count * classes
    true_k = np.bincount(groups * classes + true_codes, minlength=size).reshape(count, classes)
    pred_k = np.bincount(groups * classes + pred_codes, minlength=size).reshape(count, classes)
    hits = true_codes == pred_codes
    tp_k = np.bincount(groups[hits] * classes + true_codes[hits], minlength=size).reshape(count, classes)
    seen = (true_k + pred_k) > 0
    n_seen = seen.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = {
            "precision": np.where(pred_k > 0, tp_k / np.maximum(pred_k, 1), 0.0),
            "recall": np.where(true_k > 0, tp_k / np.maximum(true_k, 1), 0.0),
            "f1": np.where(seen, 2 * tp_k / np.maximum(true_k + pred_k, 1), 0.0),
        }
        return {name: np.where(n_seen > 0, values.sum(axis=1) / n_seen, np.nan) for name, values in per_class.items()}
