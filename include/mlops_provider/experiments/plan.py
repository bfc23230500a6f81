"""The plan of an A/B experiment, stated before any of its data: metric, effect to detect, alpha, power, split,
the per-row variance taken from the champion's holdout, and the labelled rows each arm needs.

Where the variance comes from, by metric:
- `roc_auc`: Hanley-McNeil at the champion's holdout AUC and prevalence (`stats.auc_row_variance`);
- `accuracy`, `precision`, `recall`: binomial p(1-p) at the champion's holdout value; recall counts positives
  and precision predicted positives, so the rows needed are those divided by the holdout's prevalence or
  predicted-positive rate;
- `mae`, `log_loss`: the variance of the champion's per-row absolute error / log loss on its holdout;
- `rmse`: tested as the mean squared error (the variance of the per-row squared error), the effect to detect
  being the MSE change that a change of `minimum_detectable_effect` in RMSE means at the champion's RMSE.
`f1` and `r2` are not means of rows (nor proportions): name another metric in `experiment.metric`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_provider.exceptions import ConfigError
from mlops_provider.experiments import stats
from mlops_provider.experiments.options import DEFAULT_ROUTING_KEY

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig

SUPPORTED = ("roc_auc", "accuracy", "precision", "recall", "log_loss", "mae", "rmse")
LOSSES = ("log_loss", "mae", "rmse")
ARMS = ("champion", "challenger")


@dataclass(frozen=True)
class ExperimentPlan:
    """What an experiment compares and how many labelled rows decide it; JSON-able through `to_dict`."""

    model: str
    champion: str
    challenger: str
    metric: str
    higher_is_better: bool
    minimum_detectable_effect: float
    alpha: float
    power: float
    split: dict[str, int]  # arm -> percent of the traffic
    routing_key: str
    baseline: float  # the champion's holdout value of the metric
    per_row_variance: float
    variance_source: str
    rows: dict[str, int]  # arm -> labelled rows planned
    started: str  # ISO 8601 UTC: rows logged from then on count
    deadline: str
    notes: list[str] = field(default_factory=list)
    poll_minutes: float = 5.0  # between two looks at the traffic while waiting

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentPlan:
        return cls(**data)

    def describe(self) -> str:
        direction = "higher" if self.higher_is_better else "lower"
        return (f"model '{self.model}': v{self.challenger} (challenger, {self.split['challenger']}%) against "
                f"v{self.champion} (champion, {self.split['champion']}%) on {self.metric} ({direction} is better), "
                f"to detect {self.minimum_detectable_effect:g} at alpha {self.alpha:g} and power {self.power:g}: "
                f"{self.rows['champion']} + {self.rows['challenger']} labelled rows (champion + challenger), "
                f"variance from {self.variance_source}; deadline {self.deadline}")


def experiment_metric(config: ModelConfig, override: str | None = None) -> str:
    """The metric the experiment judges: the override, `experiment.metric`, else the gate's primary metric."""
    from mlops_provider.config import REALIZED_METRICS

    block = config.experiment
    metric = override or (block.metric if block is not None else None) or config.gate.metric
    key = "experiment.metric" if (block is not None and block.metric) or override else "gate.metric"
    if metric not in REALIZED_METRICS[config.task]:
        raise ConfigError(f"{config.source}: key '{key}': '{metric}' does not fit task '{config.task}'")
    if metric not in SUPPORTED:
        raise ConfigError(f"{config.source}: key '{key}': an experiment cannot judge '{metric}' (neither a mean of "
                          f"rows nor a proportion); set `experiment.metric` to one of {', '.join(SUPPORTED)}")
    return metric


def check_split(model: str, champion_percent: int, challenger_percent: int) -> dict[str, int]:
    """The split as {arm: percent}; refused unless both are whole percents in 1..99 summing to 100."""
    for arm, value in (("champion", champion_percent), ("challenger", challenger_percent)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 99:
            raise ConfigError(f"model '{model}': the {arm}'s share must be a whole percent from 1 to 99, got "
                              f"{value!r}")
    if champion_percent + challenger_percent != 100:
        raise ConfigError(f"model '{model}': the split must sum to 100, got champion {champion_percent}% + "
                          f"challenger {challenger_percent}% = {champion_percent + challenger_percent}%")
    return {"champion": champion_percent, "challenger": challenger_percent}


def _positive(y_true: np.ndarray, *others: np.ndarray) -> Any:
    """The positive class of a binary target (the larger of the two, as `classes_[1]`)."""
    values = np.unique(np.concatenate([np.asarray(y_true), *[np.asarray(o) for o in others]]))
    return values.max() if len(values) else 1


def holdout_variance(metric: str, holdout: pd.DataFrame, mde: float) -> tuple[float, float, float, str]:
    """(baseline value, per-row variance, the effect in the tested unit, a sentence saying where it came from)."""
    y = holdout["y_true"].to_numpy()
    pred = holdout["y_pred"].to_numpy()
    rows = len(holdout)
    if metric == "roc_auc":
        if "y_pred_proba" not in holdout:
            raise ConfigError("the champion's holdout has no scores (y_pred_proba): roc_auc cannot be planned")
        positive = _positive(y)
        auc, _ = stats.delong(y == positive, holdout["y_pred_proba"].to_numpy())
        prevalence = float(np.mean(y == positive))
        variance = stats.auc_row_variance(auc, prevalence)
        return auc, variance, mde, (f"Hanley-McNeil at the champion's holdout AUC {auc:.4f}, prevalence "
                                    f"{prevalence:.3f} ({rows} rows)")
    if metric in ("accuracy", "precision", "recall"):
        positive = _positive(y, pred)
        if metric == "accuracy":
            hits, share, unit = pred == y, 1.0, "rows"
        elif metric == "recall":
            hits, share, unit = pred[y == positive] == positive, float(np.mean(y == positive)), "positives"
        else:
            hits, share, unit = y[pred == positive] == positive, float(np.mean(pred == positive)), \
                "predicted positives"
        if share == 0 or not len(hits):
            raise ConfigError(f"the champion's holdout has no {unit}: {metric} cannot be planned")
        p = float(np.mean(hits))
        return p, p * (1 - p) / share, mde, (f"binomial p(1-p) at the champion's holdout {metric} {p:.4f}, over "
                                             f"{unit} ({share:.3f} of the rows; {rows} rows)")
    if metric == "log_loss":
        proba = np.clip(holdout["y_pred_proba"].to_numpy(dtype=float), 1e-15, 1 - 1e-15)
        positive = _positive(y)
        losses = -np.where(y == positive, np.log(proba), np.log(1 - proba))
        return float(losses.mean()), float(losses.var(ddof=1)), mde, \
            f"the variance of the champion's per-row log loss on its holdout ({rows} rows)"
    errors = pred.astype(float) - y.astype(float)
    if metric == "mae":
        absolute = np.abs(errors)
        return float(absolute.mean()), float(absolute.var(ddof=1)), mde, \
            f"the variance of the champion's per-row absolute error on its holdout ({rows} rows)"
    squared = errors * errors
    rmse = math.sqrt(float(squared.mean()))
    if mde >= rmse:
        raise ConfigError(f"a minimum detectable effect of {mde:g} in RMSE is not below the champion's RMSE "
                          f"{rmse:.4g}")
    mse_effect = rmse * rmse - (rmse - mde) ** 2
    return rmse, float(squared.var(ddof=1)), mse_effect, (
        f"the variance of the champion's per-row squared error on its holdout ({rows} rows), tested as MSE: "
        f"{mde:g} in RMSE at RMSE {rmse:.4g} is {mse_effect:.4g} in MSE")


def make_plan(config: ModelConfig, *, champion: str, challenger: str, holdout: pd.DataFrame, split: dict[str, int],
              mde: float, alpha: float, power: float, deadline_hours: float, metric: str,
              now: datetime | None = None, poll_minutes: float = 5.0) -> ExperimentPlan:
    """The plan (see the module docstring for the variance of each metric)."""
    from mlops_provider.config import HIGHER_IS_BETTER

    baseline, variance, effect, source = holdout_variance(metric, holdout, mde)
    champion_rows, challenger_rows = stats.rows_per_arm(variance, effect, alpha=alpha, power=power,
                                                        challenger_share=split["challenger"] / 100)
    start = (now or datetime.now(UTC)).astimezone(UTC)
    block = config.experiment
    return ExperimentPlan(
        poll_minutes=poll_minutes, model=config.name, champion=str(champion), challenger=str(challenger), metric=metric,
        higher_is_better=HIGHER_IS_BETTER[metric], minimum_detectable_effect=mde, alpha=alpha, power=power,
        split=split, routing_key=block.routing_key if block is not None else DEFAULT_ROUTING_KEY,
        baseline=baseline, per_row_variance=variance, variance_source=source,
        rows={"champion": champion_rows, "challenger": challenger_rows},
        started=start.isoformat(), deadline=(start + timedelta(hours=deadline_hours)).isoformat())


def reachability(plan: ExperimentPlan, labelled_per_hour: float | None, hours_observed: float) -> str | None:
    """Why the planned rows cannot be labelled before the deadline at the observed rate of labelled rows, or None
    when they can. Raises nothing: the caller refuses or records."""
    total = plan.rows["champion"] + plan.rows["challenger"]
    hours = (datetime.fromisoformat(plan.deadline) - datetime.fromisoformat(plan.started)).total_seconds() / 3600
    if labelled_per_hour is None or labelled_per_hour <= 0:
        return None
    reachable = labelled_per_hour * hours
    if reachable >= total:
        return None
    return (f"model '{plan.model}': the plan needs {total} labelled rows ({plan.rows['champion']} champion + "
            f"{plan.rows['challenger']} challenger) by the deadline in {hours:g} h, but the model got "
            f"{labelled_per_hour:.1f} labelled rows per hour over the last {hours_observed:g} h: about "
            f"{reachable:.0f} by then. Raise `experiment.minimum_detectable_effect` or `deadline_hours`, or send "
            "more traffic")
