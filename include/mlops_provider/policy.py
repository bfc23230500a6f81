"""The monitor policy of a model: from a production check to a verdict and the actions it asks for.

Plain functions over the check (`xcom.ProductionCheck`) and the config's `monitor` section; no I/O. The
performance monitor's operator measures, calls `decide`, then acts (alert, rollback, retrain) in the order the
config lists them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_provider.config import HIGHER_IS_BETTER

if TYPE_CHECKING:
    from mlops_provider.config import MonitorConfig
    from mlops_provider.xcom import ProductionCheck


@dataclass
class Verdict:
    """`degraded`: the served version performs worse than the policy allows (realized, or estimated before
    labels arrive); `judged`: there was enough evidence to say so either way; `actions`: what to do, in order;
    `reasons`: one line per finding, with the numbers."""

    degraded: bool = False
    judged: bool = False
    prediction_drift: bool = False
    actions: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def worse_by(metric: str, baseline: float, value: float) -> float:
    """How much worse `value` is than `baseline` (positive: worse), for a metric of either direction."""
    return baseline - value if HIGHER_IS_BETTER[metric] else value - baseline


def _below(metric: str, value: float, minimum: float) -> bool:
    return value < minimum if HIGHER_IS_BETTER[metric] else value > minimum


def _judge_realized(monitor: MonitorConfig, check: ProductionCheck, verdict: Verdict) -> None:
    policy = monitor.performance
    if policy is None:
        return
    realized = check["realized"]
    labelled = check["labelled"]
    if realized is None or labelled < policy.min_labels:
        verdict.reasons.append(f"no realized verdict: {labelled} labelled row(s) of {policy.min_labels} needed")
        return
    verdict.judged = True
    metric = policy.metric
    if policy.minimum is not None and _below(metric, realized, policy.minimum):
        verdict.degraded = True
        verdict.reasons.append(f"realized {metric} {realized:.4f} on {labelled} labelled rows is "
                               f"{'below' if HIGHER_IS_BETTER[metric] else 'above'} the minimum {policy.minimum}")
    baseline = check["baseline"]
    if policy.max_drop is not None and baseline is not None:
        drop = worse_by(metric, baseline, realized)
        if drop > policy.max_drop:
            verdict.degraded = True
            verdict.reasons.append(f"realized {metric} {realized:.4f} is {drop:.4f} worse than the holdout's "
                                   f"{baseline:.4f} (max drop {policy.max_drop})")
    if not verdict.degraded:
        verdict.reasons.append(f"realized {metric} {realized:.4f} on {labelled} labelled rows is within the policy")


def _judge_estimated(monitor: MonitorConfig, check: ProductionCheck, verdict: Verdict) -> None:
    """The estimate acts only while the labels do not suffice for a realized verdict."""
    policy = monitor.estimated
    if policy is None or verdict.judged:
        return
    estimated, baseline = check["estimated"], check["estimated_baseline"]
    if estimated is None or baseline is None:
        verdict.reasons.append(f"no estimated verdict: {check.get('estimated_note') or 'no estimate'}")
        return
    verdict.judged = True
    drop = worse_by(policy.metric, baseline, estimated)
    if drop > policy.max_drop:
        verdict.degraded = True
        verdict.reasons.append(f"estimated {policy.metric} {estimated:.4f} (CBPE, before labels) is {drop:.4f} "
                               f"worse than the holdout's {baseline:.4f} (max drop {policy.max_drop})")
    else:
        verdict.reasons.append(f"estimated {policy.metric} {estimated:.4f} is within the policy")


def decide(monitor: MonitorConfig, check: ProductionCheck) -> Verdict:
    """The verdict on one served version and the actions the policy asks for (none without evidence)."""
    verdict = Verdict()
    if check["predictions"] == 0:
        verdict.reasons.append("no predictions of the served version in the window: nothing to judge")
        return verdict
    _judge_realized(monitor, check, verdict)
    _judge_estimated(monitor, check, verdict)
    if verdict.degraded:
        verdict.actions = list(monitor.on_degradation)
    drift = check.get("prediction_drift") or {}
    if drift.get("drifted"):
        verdict.prediction_drift = True
        verdict.reasons.append(f"prediction drift: {drift.get('summary', 'the predictions moved')}")
        action = monitor.prediction_drift
        if action != "ignore" and action not in verdict.actions:
            verdict.actions.append(action)
    return verdict
