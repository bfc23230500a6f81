"""The verdict of an A/B experiment on the logged traffic of both arms and the labels that arrived.

Order of judgement: a guardrail that stopped the test (`stopped`); a sample-ratio mismatch of the logged
predictions against the planned split (chi-square, p < 0.001: `invalid`, the split itself is broken); labels for
one arm only, or none (`invalid`); then the fixed-horizon test of the plan's metric: p < alpha and better
(sign-aware: lower is better for losses) -> `win`, p < alpha and worse -> `lose`, else `inconclusive`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_provider.experiments import stats
from mlops_provider.experiments.plan import ARMS, ExperimentPlan

if TYPE_CHECKING:
    import pandas as pd

SRM_ALPHA = 0.001
DECISIONS = ("win", "lose", "inconclusive", "invalid", "stopped")


@dataclass
class Arm:
    version: str
    share: int  # planned percent
    predictions: int = 0
    requests: int = 0  # the unit the server assigns (one hash of a routing key per request): what SRM counts
    labelled: int = 0
    planned: int = 0
    value: float | None = None  # the metric on the arm's labelled rows


@dataclass
class ExperimentResult:
    """The verdict and everything it rests on; JSON-able through `to_dict`."""

    decision: str
    reason: str
    plan: dict[str, Any]
    arms: dict[str, Arm]
    horizon: str  # "planned size" | "deadline" | "guardrail"
    srm_p_value: float | None = None
    comparison: dict[str, Any] | None = None
    unit: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["arms"] = {arm: asdict(value) for arm, value in self.arms.items()}
        return data


def _as_numbers(values: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return np.asarray(values).astype(str)


def _rows(frame: pd.DataFrame, version: str, column: str) -> np.ndarray:
    from mlops_provider.inference_log import VERSION

    return frame.loc[frame[VERSION].astype(str) == version, column].to_numpy()


def _requests(predictions: pd.DataFrame, version: str) -> int:
    """Distinct requests of `version`: a prediction id is `<request id>` or `<request id>.<row>`; rows without an
    id count one each."""
    from mlops_provider.inference_log import REQUEST_ID, VERSION

    mine = predictions[predictions[VERSION].astype(str) == version]
    ids = mine.get(REQUEST_ID)
    if ids is None:
        return len(mine)
    known = ids.dropna().astype(str).str.split(".", n=1).str[0]
    return int(known.nunique()) + int(ids.isna().sum())


def measure(metric: str, y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray, positive: Any) -> Any:
    """What the test compares for one arm: (y, scores) for roc_auc, (successes, trials) for a proportion, per-row
    losses for a loss."""
    if metric == "roc_auc":
        return (y_true == positive, scores.astype(float))
    if metric == "accuracy":
        hits = y_pred == y_true
    elif metric == "recall":
        hits = y_pred[y_true == positive] == positive
    elif metric == "precision":
        hits = y_true[y_pred == positive] == positive
    else:
        if metric == "log_loss":
            proba = np.clip(scores.astype(float), 1e-15, 1 - 1e-15)
            return -np.where(y_true == positive, np.log(proba), np.log(1 - proba))
        errors = y_pred.astype(float) - y_true.astype(float)
        return np.abs(errors) if metric == "mae" else errors * errors
    return (int(np.sum(hits)), len(hits))


def _compare(plan: ExperimentPlan, champion: Any, challenger: Any, confidence: float) -> stats.Comparison:
    if plan.metric == "roc_auc":
        return stats.compare_auc(champion, challenger, confidence=confidence)
    if plan.metric in ("accuracy", "recall", "precision"):
        return stats.compare_proportions(champion, challenger, confidence=confidence)
    return stats.compare_means(champion, challenger, confidence=confidence)


def _arm_value(metric: str, measured: Any) -> float:
    if metric == "roc_auc":
        return stats.delong(*measured)[0]
    if isinstance(measured, tuple):
        return measured[0] / measured[1] if measured[1] else float("nan")
    mean = float(np.mean(measured))
    return float(np.sqrt(mean)) if metric == "rmse" else mean


def decide(plan: ExperimentPlan, predictions: pd.DataFrame, labelled: pd.DataFrame, *, horizon: str,
           stopped: str | None = None) -> ExperimentResult:
    """The verdict (module docstring). `predictions`: the inference log since the plan started; `labelled`: those
    with their label (`labels.labelled_predictions`); `horizon` says why the look happens now; `stopped` is the
    guardrail's reason when one stopped the test."""
    from mlops_provider.inference_log import PREDICTION, SCORE, VERSION
    from mlops_provider.labels import LABEL

    versions = {"champion": plan.champion, "challenger": plan.challenger}
    arms = {arm: Arm(versions[arm], plan.split[arm], planned=plan.rows[arm]) for arm in ARMS}
    served = predictions[VERSION].astype(str) if len(predictions) else predictions.get(VERSION)
    for arm in ARMS:
        arms[arm].predictions = int((served == versions[arm]).sum()) if served is not None else 0
        arms[arm].requests = _requests(predictions, versions[arm]) if served is not None else 0
        arms[arm].labelled = int((labelled[VERSION].astype(str) == versions[arm]).sum()) if len(labelled) else 0
    unit = "MSE (rmse is tested as the mean squared error)" if plan.metric == "rmse" else plan.metric
    result = ExperimentResult("inconclusive", "", plan.to_dict(), arms, horizon, unit=unit)
    if stopped is not None:
        result.decision, result.reason, result.horizon = "stopped", f"guardrail: {stopped}", "guardrail"
        return result
    # counted in requests, not rows: a request of many rows is assigned once, and counting its rows would make a
    # chance imbalance of requests look many times more significant than it is
    _, srm_p = stats.sample_ratio_mismatch({a: arms[a].requests for a in ARMS}, plan.split)
    result.srm_p_value = srm_p
    if srm_p < SRM_ALPHA:
        result.decision = "invalid"
        result.reason = (f"sample-ratio mismatch: {arms['champion'].requests} champion and "
                         f"{arms['challenger'].requests} challenger requests against a planned "
                         f"{plan.split['champion']}/{plan.split['challenger']} split (chi-square p = {srm_p:.2g} "
                         f"< {SRM_ALPHA}): the assignment is broken, no comparison is trustworthy")
        return result
    empty = [arm for arm in ARMS if arms[arm].labelled == 0]
    if empty:
        result.decision = "invalid"
        if len(empty) == 2:
            result.reason = "no labels arrived for either arm: nothing to compare"
        else:
            other = next(arm for arm in ARMS if arm not in empty)
            result.reason = (f"labels arrived for only one arm: {arms[other].labelled} for the {other} "
                             f"(v{versions[other]}), none for the {empty[0]} (v{versions[empty[0]]}): the arms "
                             "cannot be compared")
        return result
    y_all = _as_numbers(labelled[LABEL].to_numpy())
    pred_all = _as_numbers(labelled[PREDICTION].to_numpy())
    positive = np.unique(np.concatenate([y_all, pred_all])).max()
    scores_all = labelled[SCORE].to_numpy() if SCORE in labelled else np.full(len(labelled), np.nan)
    measured = {}
    for arm in ARMS:
        mask = (labelled[VERSION].astype(str) == versions[arm]).to_numpy()
        measured[arm] = measure(plan.metric, y_all[mask], pred_all[mask], scores_all[mask], positive)
    try:
        comparison = _compare(plan, measured["champion"], measured["challenger"], 1 - plan.alpha)
        for arm in ARMS:
            arms[arm].value = _arm_value(plan.metric, measured[arm])
    except ValueError as err:
        result.decision, result.reason = "invalid", f"{plan.metric} cannot be measured on the labelled rows: {err}"
        return result
    result.comparison = asdict(comparison)
    improvement = comparison.effect if plan.higher_is_better else -comparison.effect
    at = (f"{arms['champion'].labelled} + {arms['challenger'].labelled} labelled rows (planned "
          f"{plan.rows['champion']} + {plan.rows['challenger']}, look at the {horizon})")
    interval = f"[{comparison.ci_low:+.4g}, {comparison.ci_high:+.4g}]"
    effect = f"challenger - champion = {comparison.effect:+.4g} {unit}, {1 - plan.alpha:.0%} interval {interval}"
    if comparison.p_value < plan.alpha:
        result.decision = "win" if improvement > 0 else "lose"
        better = "better" if improvement > 0 else "worse"
        result.reason = (f"the challenger is {better}: {effect}, p = {comparison.p_value:.3g} < alpha "
                         f"{plan.alpha:g}; {at}")
    else:
        result.reason = (f"no significant difference: {effect}, p = {comparison.p_value:.3g} >= alpha "
                         f"{plan.alpha:g}; {at}")
    return result
