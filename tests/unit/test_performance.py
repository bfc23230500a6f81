"""mlops_provider.performance: realized metrics equal scikit-learn's per window and version, windows without
labels give no verdict, and CBPE (as NannyML defines it) tracks the realized metric before labels arrive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

from mlops_provider.exceptions import EvaluationError
from mlops_provider.performance import (
    METRICS_BY_TASK,
    PerformanceError,
    estimate_performance,
    estimate_windows,
    fit_calibration,
    higher_is_better,
    realized_performance,
)
from mlops_provider.performance.cbpe import _estimates

START = pd.Timestamp("2026-03-01 09:00", tz="UTC")


def logged(rows: int, seed: int = 0, *, versions: tuple[str, ...] = ("3",), step: str = "1s") -> pd.DataFrame:
    """An inference log of a binary classifier with a hidden true label per row (`_truth`)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    truth = (rng.random(rows) < 1 / (1 + np.exp(-2 * x))).astype(int)
    score = 1 / (1 + np.exp(-2.5 * x + rng.normal(0, 0.3, rows)))
    return pd.DataFrame({
        "mlops_request_id": [f"req-{i:06d}" for i in range(rows)],
        "mlops_prediction": (score >= 0.5).astype(int),
        "mlops_score": score,
        "mlops_timestamp": pd.date_range(START, periods=rows, freq=step),
        "mlops_version": np.resize(np.array(versions), rows),
        "_truth": truth,
    })


def labels_of(predictions: pd.DataFrame, keep: float = 0.9, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kept = predictions[rng.random(len(predictions)) < keep]
    frame = pd.DataFrame({"mlops_request_id": kept["mlops_request_id"].to_numpy(), "label": kept["_truth"].to_numpy()})
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def sklearn_metrics(part: pd.DataFrame) -> dict[str, float]:
    y, predicted, score = part["label"], part["mlops_prediction"], part["mlops_score"]
    return {
        "accuracy": skm.accuracy_score(y, predicted), "precision": skm.precision_score(y, predicted),
        "recall": skm.recall_score(y, predicted), "f1": skm.f1_score(y, predicted),
        "roc_auc": skm.roc_auc_score(y, score), "log_loss": skm.log_loss(y, score),
    }


# --- realized performance ------------------------------------------------------------------------------


def test_every_window_and_version_equals_sklearn_on_the_merged_rows() -> None:
    predictions = logged(3000, versions=("3", "4"))
    labels = labels_of(predictions)
    labels = pd.concat([labels, pd.DataFrame({"mlops_request_id": ["req-unknown"], "label": [1]})])
    result = realized_performance(predictions, labels, metric="roc_auc", window=500)

    assert result.unmatched == 1
    merged = predictions.merge(labels, on="mlops_request_id")
    assert len(result) == 6 and {w.version for w in result} == {"3", "4"}
    assert [w.start for w in result] == sorted(w.start for w in result)
    for version in ("3", "4"):
        rows = merged[merged["mlops_version"] == version].sort_values("mlops_timestamp")
        mine = [w for w in result if w.version == version]
        all_rows = predictions[predictions["mlops_version"] == version].sort_values("mlops_timestamp")
        for k, window in enumerate(mine):
            ids = set(all_rows["mlops_request_id"].iloc[k * 500:(k + 1) * 500])
            part = rows[rows["mlops_request_id"].isin(ids)]
            assert window.n_predictions == 500 and window.n_labelled == len(part)
            assert window.start == all_rows["mlops_timestamp"].iloc[k * 500]
            for name, expected in sklearn_metrics(part).items():
                assert window.metrics[name] == pytest.approx(expected, abs=1e-12), (version, k, name)
            assert window.value == window.metrics["roc_auc"]
            assert window.ci_low is not None and window.ci_high is not None
            assert window.ci_low < window.value < window.ci_high


def test_a_relabelled_request_counts_with_its_last_label() -> None:
    predictions = logged(200)
    labels = labels_of(predictions, keep=1.0)
    first = labels.iloc[0]
    corrected = pd.concat([labels, pd.DataFrame({"mlops_request_id": [first["mlops_request_id"]],
                                                 "label": [1 - first["label"]]})], ignore_index=True)
    fixed = predictions.assign(_truth=np.where(predictions["mlops_request_id"] == first["mlops_request_id"],
                                               1 - first["label"], predictions["_truth"]))
    got = realized_performance(predictions, corrected, metric="accuracy").windows[0]
    expected = skm.accuracy_score(fixed["_truth"], fixed["mlops_prediction"])
    assert got.n_labelled == 200 and got.value == pytest.approx(expected)


def test_time_windows_without_labels_have_no_verdict() -> None:
    predictions = logged(180, step="1min")  # 09:00 .. 11:59, three 1h windows
    labels = labels_of(predictions[predictions["mlops_timestamp"] < START + pd.Timedelta("1h")], keep=1.0)
    labels = pd.concat([labels, labels_of(predictions.iloc[150:152], keep=1.0)])  # two labels in the last hour
    result = realized_performance(predictions, labels, metric="f1", window="1h", min_rows=5)

    first, empty, sparse = result.windows
    assert (first.start, first.end) == (START, START + pd.Timedelta("1h"))
    assert first.n_predictions == 60 and first.n_labelled == 60 and first.value is not None
    assert empty.n_labelled == 0 and empty.value is None and empty.note == "no labelled rows"
    assert empty.ci_low is None and set(empty.metrics.values()) == {None}
    assert sparse.n_labelled == 2 and sparse.value is None and sparse.note == "only 2 labelled rows (min_rows=5)"
    frame = result.to_frame()
    assert list(frame["n_labelled"]) == [60, 0, 2] and frame["value"].isna().tolist() == [False, True, True]


def test_undefined_metrics_are_none_with_the_reason() -> None:
    predictions = logged(50).assign(_truth=1, mlops_prediction=0)
    window = realized_performance(predictions, labels_of(predictions, keep=1.0), metric="roc_auc").windows[0]
    assert window.value is None and window.ci_low is None
    assert window.metrics["accuracy"] == 0.0 and window.metrics["recall"] == 0.0
    assert window.metrics["precision"] is None and window.metrics["log_loss"] is not None
    assert "roc_auc undefined: the labels hold one class only" in (window.note or "")
    assert "precision undefined: no positive predictions" in (window.note or "")


def test_without_scores_only_the_score_metrics_are_missing() -> None:
    predictions = logged(100).drop(columns="mlops_score")
    window = realized_performance(predictions, labels_of(predictions), metric="accuracy").windows[0]
    assert window.value is not None and window.metrics["roc_auc"] is None
    assert "roc_auc needs scores" in (window.note or "")
    with pytest.raises(PerformanceError, match="predictions has no column 'mlops_score'"):
        realized_performance(predictions, labels_of(predictions), metric="roc_auc")


def test_accuracy_interval_is_a_bootstrap_that_narrows_with_more_rows() -> None:
    small = logged(400)
    large = logged(8000)
    narrow = realized_performance(large, labels_of(large, keep=1.0), metric="accuracy").windows[0]
    wide = realized_performance(small, labels_of(small, keep=1.0), metric="accuracy").windows[0]
    assert narrow.ci_low < narrow.value < narrow.ci_high  # type: ignore[operator]
    assert (narrow.ci_high - narrow.ci_low) < (wide.ci_high - wide.ci_low) / 3  # type: ignore[operator]
    # percentile bootstrap of a proportion: about the normal interval (200 resamples make its tails noisy)
    p, n = narrow.value, narrow.n_labelled
    assert narrow.ci_high - narrow.ci_low == pytest.approx(2 * 1.96 * np.sqrt(p * (1 - p) / n), rel=0.25)
    again = realized_performance(large, labels_of(large, keep=1.0), metric="accuracy").windows[0]
    assert (again.ci_low, again.ci_high) == (narrow.ci_low, narrow.ci_high)  # fixed seed


def test_roc_auc_interval_uses_delongs_variance() -> None:
    predictions = logged(300)
    window = realized_performance(predictions, labels_of(predictions, keep=1.0), metric="roc_auc").windows[0]
    y, s = predictions["_truth"].to_numpy(), predictions["mlops_score"].to_numpy()
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    variance = psi.mean(axis=1).var(ddof=1) / len(pos) + psi.mean(axis=0).var(ddof=1) / len(neg)
    assert window.ci_high - window.value == pytest.approx(1.959964 * np.sqrt(variance), rel=1e-5)  # type: ignore


def test_regression_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(3)
    rows = 600
    predictions = pd.DataFrame({"mlops_request_id": np.arange(rows), "mlops_prediction": rng.normal(10, 3, rows),
                                "mlops_timestamp": START + pd.to_timedelta(np.arange(rows), "s")})
    labels = pd.DataFrame({"mlops_request_id": np.arange(rows)[::-1],
                           "label": predictions["mlops_prediction"].to_numpy()[::-1] + rng.normal(0, 1, rows)})
    result = realized_performance(predictions, labels, metric="r2", task="regression", window=300)
    for k, window in enumerate(result):
        y = labels["label"].to_numpy()[::-1][k * 300:(k + 1) * 300]
        p = predictions["mlops_prediction"].to_numpy()[k * 300:(k + 1) * 300]
        assert window.metrics["rmse"] == pytest.approx(skm.root_mean_squared_error(y, p))
        assert window.metrics["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
        assert window.value == pytest.approx(skm.r2_score(y, p))
        assert window.ci_low < window.value < window.ci_high  # type: ignore[operator]
        assert window.version is None  # no version column
    rmse = realized_performance(predictions, labels, metric="rmse", task="regression").windows[0]
    assert rmse.ci_low < rmse.value < rmse.ci_high  # type: ignore[operator]


def test_multiclass_gets_accuracy_and_macro_scores() -> None:
    rng = np.random.default_rng(4)
    truth = rng.choice(["cat", "dog", "eel"], 400)
    predicted = np.where(rng.random(400) < 0.7, truth, rng.choice(["cat", "dog", "eel"], 400))
    predictions = pd.DataFrame({"mlops_request_id": np.arange(400), "mlops_prediction": predicted})
    labels = pd.DataFrame({"mlops_request_id": np.arange(400), "label": truth})
    window = realized_performance(predictions, labels, metric="accuracy").windows[0]
    assert window.value == pytest.approx(skm.accuracy_score(truth, predicted))
    assert window.ci_low is not None
    for name, scorer in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert window.metrics[name] == pytest.approx(scorer(truth, predicted, average="macro"))
    assert window.metrics["roc_auc"] is None and "needs a binary classifier" in (window.note or "")


def test_bad_arguments_name_what_was_wrong() -> None:
    predictions = logged(20)
    labels = labels_of(predictions)
    with pytest.raises(ValueError, match="metric 'mape' is not supported .* use one of: accuracy, precision"):
        realized_performance(predictions, labels, metric="mape")
    with pytest.raises(EvaluationError, match="task 'ranking'"):
        realized_performance(predictions, labels, metric="accuracy", task="ranking")
    with pytest.raises(PerformanceError, match="labels has no column 'label'"):
        realized_performance(predictions, labels.rename(columns={"label": "y"}), metric="accuracy")
    with pytest.raises(PerformanceError, match="predictions has no column 'mlops_timestamp'"):
        realized_performance(predictions.drop(columns="mlops_timestamp"), labels, metric="accuracy", window="1h")
    with pytest.raises(PerformanceError, match="window 'soon'"):
        realized_performance(predictions, labels, metric="accuracy", window="soon")


def test_metric_directions() -> None:
    assert METRICS_BY_TASK["regression"] == ("rmse", "mae", "r2")
    assert higher_is_better("roc_auc") and higher_is_better("r2")
    assert not higher_is_better("log_loss") and not higher_is_better("rmse")
    with pytest.raises(ValueError, match="'mape'"):
        higher_is_better("mape")


# --- CBPE ----------------------------------------------------------------------------------------------


def logistic(rows: int, rng: np.random.Generator, *, squeeze: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(rows, 4)) * squeeze
    p = 1 / (1 + np.exp(-(x @ np.array([1.5, -1.0, 0.7, 0.3]) + 0.3)))
    return x, (rng.random(rows) < p).astype(int)


@pytest.fixture(scope="module")
def scored() -> dict[str, pd.DataFrame]:
    """A logistic model trained on part of a well-specified data set; a labelled holdout as the reference,
    three undrifted windows and one covariate-shifted window (features squeezed towards the boundary)."""
    rng = np.random.default_rng(7)
    x_train, y_train = logistic(4000, rng)
    model = LogisticRegression().fit(x_train, y_train)
    frames = {}
    for name, squeeze in (("reference", 1.0), ("w1", 1.0), ("w2", 1.0), ("w3", 1.0), ("shifted", 0.4)):
        x, y = logistic(5000, rng, squeeze=squeeze)
        frames[name] = pd.DataFrame({"y_true": y, "y_pred_proba": model.predict_proba(x)[:, 1]})
    return frames


def realized(frame: pd.DataFrame, metric: str) -> float:
    if metric == "roc_auc":
        return float(skm.roc_auc_score(frame["y_true"], frame["y_pred_proba"]))
    return float(skm.accuracy_score(frame["y_true"], frame["y_pred_proba"] >= 0.5))


@pytest.mark.parametrize("metric", ["roc_auc", "accuracy"])
def test_cbpe_is_within_two_points_of_the_realized_metric(scored: dict[str, pd.DataFrame], metric: str) -> None:
    for window in ("w1", "w2", "w3"):
        current = scored[window].drop(columns="y_true")  # labels hidden
        estimate = estimate_performance(scored["reference"], current, metric=metric)
        assert abs(estimate - realized(scored[window], metric)) < 0.02, (window, metric)


@pytest.mark.parametrize("metric", ["roc_auc", "accuracy"])
def test_cbpe_tracks_a_covariate_shift(scored: dict[str, pd.DataFrame], metric: str) -> None:
    before = realized(scored["w1"], metric)
    after = realized(scored["shifted"], metric)
    assert before - after > 0.08  # the shift really costs performance
    estimate = estimate_performance(scored["reference"], scored["shifted"][["y_pred_proba"]], metric=metric)
    assert abs(estimate - after) < 0.02


def test_cbpe_calibrates_only_scores_that_need_it() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=6000)
    y = (rng.random(6000) < 1 / (1 + np.exp(-x))).astype(int)
    overconfident = pd.DataFrame({"y_true": y, "y_pred_proba": 1 / (1 + np.exp(-4 * x))})
    assert fit_calibration(overconfident).isotonic is not None
    separable = pd.DataFrame({"y_true": (x > 0).astype(int), "y_pred_proba": 1 / (1 + np.exp(-x))})
    assert fit_calibration(separable).isotonic is None  # roc_auc above 0.999: NannyML skips calibration
    one_class = pd.DataFrame({"y_true": np.ones(100, int), "y_pred_proba": rng.random(100)})
    assert fit_calibration(one_class).isotonic is None


def nannyml_estimate_roc_auc(calibrated: np.ndarray, scores: np.ndarray) -> float:
    """NannyML's `estimate_roc_auc` (nannyml/performance_estimation/confidence_based/metrics.py), transcribed."""
    order = np.argsort(scores)[::-1]
    calibrated = calibrated[order]
    tps = np.cumsum(calibrated)
    fps = 1 + np.arange(len(calibrated)) - tps
    tps, fps = np.round(np.r_[0, tps], 5), np.round(np.r_[0, fps], 5)
    return float(skm.auc(fps / fps[-1], tps / tps[-1]))


def test_expected_roc_and_confusion_follow_nannymls_formulas() -> None:
    rng = np.random.default_rng(5)
    scores, proba = rng.random(3000), rng.random(3000)
    groups = np.zeros(3000, dtype=np.int64)
    auc = _estimates(groups, scores, proba, 1, "roc_auc", 0.5)[0]
    assert auc == pytest.approx(nannyml_estimate_roc_auc(proba, scores), abs=1e-6)
    positive = scores >= 0.5
    tp, fp = proba[positive].sum(), (1 - proba[positive]).sum()
    fn, tn = proba[~positive].sum(), (1 - proba[~positive]).sum()
    expected = {"accuracy": (tp + tn) / 3000, "precision": tp / (tp + fp), "recall": tp / (tp + fn),
                "f1": tp / (tp + 0.5 * (fp + fn))}
    for metric, value in expected.items():
        assert _estimates(groups, scores, proba, 1, metric, 0.5)[0] == pytest.approx(value, rel=1e-12)
    # equal scores form one threshold: the curve through a tie is its straight diagonal
    tied = _estimates(groups[:4], np.array([0.9, 0.5, 0.5, 0.1]), np.array([1.0, 1.0, 0.0, 0.0]), 1, "roc_auc", 0.5)
    assert tied[0] == pytest.approx(0.875)


def test_estimate_windows_calibrates_once_and_matches_the_single_estimate(scored: dict[str, pd.DataFrame]) -> None:
    current = pd.concat([scored["w1"], scored["shifted"]], ignore_index=True).drop(columns="y_true")
    current["mlops_timestamp"] = START + pd.to_timedelta(np.arange(len(current)), "s")
    estimates = estimate_windows(scored["reference"], current, metric="roc_auc", window=5000)
    assert [e.n_predictions for e in estimates] == [5000, 5000] and estimates[0].start == START
    for estimate, window in zip(estimates, ("w1", "shifted"), strict=True):
        single = estimate_performance(scored["reference"], scored[window][["y_pred_proba"]], metric="roc_auc")
        assert estimate.value == pytest.approx(single, abs=1e-12)
    by_hour = estimate_windows(scored["reference"], current, metric="accuracy", window="1h")
    assert len(by_hour) == 3 and sum(e.n_predictions for e in by_hour) == 10000


def test_cbpe_errors_name_the_metric_column_and_frame(scored: dict[str, pd.DataFrame]) -> None:
    reference, current = scored["reference"], scored["w1"][["y_pred_proba"]]
    with pytest.raises(ValueError, match="'log_loss' is not supported .*roc_auc, accuracy, precision, recall, f1"):
        estimate_performance(reference, current, metric="log_loss")
    with pytest.raises(PerformanceError, match="reference has no column 'y_true'"):
        estimate_performance(reference.drop(columns="y_true"), current, metric="f1")
    with pytest.raises(PerformanceError, match="current has no column 'score'"):
        estimate_performance(reference, current, metric="f1", y_proba="score")
    with pytest.raises(PerformanceError, match="current has no rows"):
        estimate_performance(reference, current.iloc[:0], metric="f1")
    with pytest.raises(PerformanceError, match="0/1 labels"):
        estimate_performance(reference.assign(y_true="yes"), current, metric="f1")
