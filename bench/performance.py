"""Benchmark: realized performance per window against pandas `merge` + scikit-learn, and CBPE against the truth.

N predictions of a binary classifier (string request ids, timestamps, one served version; the scores are
over-confident, so CBPE has to calibrate) and their labels in shuffled order with ~10% missing. The last fifth of
the predictions is covariate-shifted (features squeezed towards the decision boundary), so performance really drops.

1. Realized: `realized_performance(predictions, labels, metric="roc_auc", window=W)` (which also computes
   accuracy, precision, recall, f1, log_loss and a DeLong interval) vs the peer: sort by timestamp, number the
   windows, `predictions.merge(labels, on=id)`, then per window `sklearn.metrics` accuracy, precision, recall,
   f1, roc_auc and log_loss. Every value must agree within 1e-9. Best of `--repeat` runs each.
2. CBPE: `estimate_windows(reference, predictions, metric=...)` on the same windows (calibrated once on a
   labelled reference of min(N, 100k) rows), timed, and compared with the realized roc_auc and accuracy per window:
   max |estimate - realized| on the undrifted windows (goal < 0.02) and on the shifted ones.

    .venv/bin/python bench/performance.py [--rows 1000000] [--window 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

GOAL_SPEEDUP, GOAL_CBPE_ERROR = 5.0, 0.02
WEIGHTS = np.array([1.2, -0.8, 0.6, 0.4, -0.3])
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
DRIFTED_SHARE = 0.2


def scored_rows(rows: int, rng: np.random.Generator, *, squeeze: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores): a well-specified logistic truth and a model whose scores are over-confident
    (a steeper sigmoid of a slightly wrong logit). `squeeze` < 1 pulls the features towards the boundary."""
    features = rng.normal(size=(rows, len(WEIGHTS))) * squeeze
    truth = 1 / (1 + np.exp(-(features @ WEIGHTS + 0.2)))
    labels = (rng.random(rows) < truth).astype(np.int64)
    model = features @ (WEIGHTS + np.array([0.1, 0.0, -0.1, 0.05, 0.0])) + 0.2
    return labels, 1 / (1 + np.exp(-1.7 * model))


def make_data(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """(predictions, labels, reference, first drifted row)."""
    rng = np.random.default_rng(seed)
    drifted = int(rows * (1 - DRIFTED_SHARE))
    head_labels, head_scores = scored_rows(drifted, rng)
    tail_labels, tail_scores = scored_rows(rows - drifted, rng, squeeze=0.5)
    labels, scores = np.concatenate([head_labels, tail_labels]), np.concatenate([head_scores, tail_scores])
    ids = np.array([f"req-{value:012x}" for value in rng.permutation(rows) * 7919 + 10**9], dtype=object)
    predictions = pd.DataFrame({
        "mlops_request_id": ids,
        "mlops_prediction": (scores >= 0.5).astype(np.int64),
        "mlops_score": scores,
        "mlops_timestamp": pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(rows) * 100, "ms"),
        "mlops_version": "3",
    })
    kept = rng.random(rows) >= 0.1
    order = rng.permutation(np.flatnonzero(kept))
    # new string objects, as when the labels are read from their own file
    label_ids = np.array(["".join(["req-", value[4:]]) for value in ids[order]], dtype=object)
    label_frame = pd.DataFrame({"mlops_request_id": label_ids, "label": labels[order]})
    reference_labels, reference_scores = scored_rows(min(rows, 100_000), rng)
    reference = pd.DataFrame({"y_true": reference_labels, "y_pred_proba": reference_scores})
    return predictions, label_frame, reference, drifted


def peer(predictions: pd.DataFrame, labels: pd.DataFrame, window: int) -> dict[str, np.ndarray]:
    """What one writes with pandas and scikit-learn: merge, then the metrics window by window."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score

    ordered = predictions.sort_values("mlops_timestamp", kind="stable").reset_index(drop=True)
    ordered["window"] = np.arange(len(ordered)) // window
    joined = ordered.merge(labels, on="mlops_request_id", how="inner")
    out: dict[str, list[float]] = {name: [] for name in METRICS}
    for _, part in joined.groupby("window", sort=True):
        y, predicted, score = part["label"], part["mlops_prediction"], part["mlops_score"]
        out["accuracy"].append(accuracy_score(y, predicted))
        out["precision"].append(precision_score(y, predicted))
        out["recall"].append(recall_score(y, predicted))
        out["f1"].append(f1_score(y, predicted))
        out["roc_auc"].append(roc_auc_score(y, score))
        out["log_loss"].append(log_loss(y, score))
    return {name: np.array(values) for name, values in out.items()}


def ours(predictions: pd.DataFrame, labels: pd.DataFrame, window: int) -> dict[str, np.ndarray]:
    from mlops_provider.performance import realized_performance

    result = realized_performance(predictions, labels, metric="roc_auc", window=window)
    return {name: np.array([w.metrics[name] for w in result.windows], dtype=float) for name in METRICS}


def cbpe(reference: pd.DataFrame, predictions: pd.DataFrame, window: int) -> dict[str, np.ndarray]:
    from mlops_provider.performance import estimate_windows, fit_calibration

    calibration = fit_calibration(reference)
    return {metric: np.array([e.value for e in estimate_windows(
        reference, predictions, metric=metric, window=window, y_proba="mlops_score", calibration=calibration)],
        dtype=float) for metric in ("roc_auc", "accuracy")}


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[Any, float]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return result, best


def check_equal(got: dict[str, np.ndarray], expected: dict[str, np.ndarray], tolerance: float = 1e-9) -> float:
    """The largest difference between the two; raises when any metric of any window differs by more."""
    worst = 0.0
    for name in METRICS:
        assert got[name].shape == expected[name].shape, (name, got[name].shape, expected[name].shape)
        difference = float(np.max(np.abs(got[name] - expected[name]), initial=0.0))
        assert difference <= tolerance, f"{name} differs from scikit-learn by {difference:.3g}"
        worst = max(worst, difference)
    return worst


def estimate_errors(estimates: dict[str, np.ndarray], realized: dict[str, np.ndarray], window: int,
                    drifted_row: int) -> dict[str, tuple[float, float]]:
    """metric -> (max |estimate - realized| on undrifted windows, the same on windows past the shift)."""
    windows = len(realized["roc_auc"])
    clean = (np.arange(windows) + 1) * window <= drifted_row
    errors = {}
    for metric, estimate in estimates.items():
        gap = np.abs(estimate - realized[metric])
        errors[metric] = (float(gap[clean].max(initial=0.0)), float(gap[~clean].max(initial=0.0)))
    return errors


def table(rows: int, windows: int, ours_s: float, peer_s: float, cbpe_s: float) -> list[str]:
    return [
        "| part | rows | windows | ours s | peer s | ratio |",
        "|---|---:|---:|---:|---:|---:|",
        f"| realized: join + 6 metrics per window (+ DeLong CI) vs merge + sklearn | {rows:,} | {windows} | "
        f"{ours_s:.3f} | {peer_s:.3f} | **{peer_s / ours_s:.1f}x** (goal {GOAL_SPEEDUP:g}x) |",
        f"| CBPE roc_auc + accuracy per window (calibrated once) | {rows:,} | {windows} | {cbpe_s:.3f} | - | - |",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    predictions, labels, reference, drifted_row = make_data(args.rows)
    realized, ours_s = best_of(args.repeat, lambda: ours(predictions, labels, args.window))
    expected, peer_s = best_of(args.repeat, lambda: peer(predictions, labels, args.window))
    worst = check_equal(realized, expected)
    estimates, cbpe_s = best_of(args.repeat, lambda: cbpe(reference, predictions, args.window))
    errors = estimate_errors(estimates, realized, args.window, drifted_row)
    windows = len(realized["roc_auc"])

    print(f"\n### Performance: {args.rows:,} predictions, {len(labels):,} labels (shuffled), windows of "
          f"{args.window:,} rows\n")
    print(f"All 6 metrics of all {windows} windows equal scikit-learn's (max difference {worst:.1e}). "
          f"Best of {args.repeat}. The last {DRIFTED_SHARE:.0%} of the rows are covariate-shifted.\n")
    print("\n".join(table(args.rows, windows, ours_s, peer_s, cbpe_s)))
    print("\n| CBPE estimate vs realized | undrifted windows: max abs diff | shifted windows: max abs diff |")
    print("|---|---:|---:|")
    for metric, (clean, shifted) in errors.items():
        drop = realized[metric][:int(drifted_row // args.window)].mean() - realized[metric][-1]
        print(f"| {metric} (realized drop {drop:.3f}) | {clean:.4f} (goal < {GOAL_CBPE_ERROR:g}) | {shifted:.4f} |")


if __name__ == "__main__":
    main()
