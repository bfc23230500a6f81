"""The monitor policy: a production check in, a verdict and its actions out."""

from __future__ import annotations

from typing import Any

from mlops_provider.config import MonitorConfig
from mlops_provider.policy import decide, worse_by


def check(**changes: Any) -> Any:
    base = {"model": "m", "version": "3", "alias": "serving_local", "window_start": "", "window_end": "",
            "predictions": 1000, "labelled": 400, "unlabelled": 600, "metric": "roc_auc", "baseline": 0.78,
            "realized": 0.77, "realized_interval": [0.74, 0.80], "realized_metrics": {}, "by_version": [],
            "estimated": 0.775, "estimated_metric": "roc_auc", "estimated_baseline": 0.78, "estimated_note": None,
            "prediction_drift": None, "confidence_drift": None, "labels": {}, "notes": []}
    return {**base, **changes}


POLICY = MonitorConfig.model_validate({
    "performance": {"metric": "roc_auc", "minimum": 0.70, "max_drop": 0.05, "min_labels": 200},
    "estimated": {"metric": "roc_auc", "max_drop": 0.05},
    "on_degradation": ["alert", "rollback", "retrain"]})


def test_within_the_policy_nothing_is_done() -> None:
    verdict = decide(POLICY, check())
    assert (verdict.degraded, verdict.judged, verdict.actions) == (False, True, [])
    assert "within the policy" in verdict.reasons[0]


def test_below_the_minimum_or_dropped_too_far_degrades_and_acts_in_the_config_order() -> None:
    below = decide(POLICY, check(realized=0.65))
    assert below.degraded and below.actions == ["alert", "rollback", "retrain"]
    assert any("below the minimum 0.7" in r for r in below.reasons)
    dropped = decide(POLICY, check(realized=0.72))  # above the minimum, 0.06 under the holdout
    assert dropped.degraded and any("0.0600 worse than the holdout's 0.7800" in r for r in dropped.reasons)


def test_too_few_labels_leaves_the_estimate_to_judge() -> None:
    verdict = decide(POLICY, check(labelled=50, realized=0.60, estimated=0.70))
    assert verdict.degraded and verdict.judged
    assert verdict.reasons[0] == "no realized verdict: 50 labelled row(s) of 200 needed"
    assert "estimated roc_auc 0.7000 (CBPE, before labels)" in verdict.reasons[1]
    fine = decide(POLICY, check(labelled=50, realized=0.60, estimated=0.77))
    assert not fine.degraded and fine.actions == []


def test_zero_labels_and_no_estimate_is_no_verdict_said_plainly() -> None:
    verdict = decide(POLICY, check(labelled=0, realized=None, estimated=None, estimated_note="no scores"))
    assert (verdict.degraded, verdict.judged, verdict.actions) == (False, False, [])
    assert verdict.reasons == ["no realized verdict: 0 labelled row(s) of 200 needed",
                               "no estimated verdict: no scores"]


def test_no_predictions_is_no_verdict() -> None:
    verdict = decide(POLICY, check(predictions=0, labelled=0, realized=None))
    assert not verdict.judged and "no predictions" in verdict.reasons[0]


def test_prediction_drift_acts_as_configured_once() -> None:
    drift = {"drifted": True, "summary": "prediction chisquare 0.001"}
    assert decide(POLICY, check(prediction_drift=drift)).actions == ["alert"]
    retrain = POLICY.model_copy(update={"prediction_drift": "retrain"})
    assert decide(retrain, check(prediction_drift=drift)).actions == ["retrain"]
    assert decide(retrain, check(prediction_drift=drift, realized=0.6)).actions == ["alert", "rollback", "retrain"]
    ignore = POLICY.model_copy(update={"prediction_drift": "ignore"})
    verdict = decide(ignore, check(prediction_drift=drift))
    assert verdict.actions == [] and verdict.prediction_drift


def test_losses_are_worse_when_higher() -> None:
    assert abs(worse_by("log_loss", 0.4, 0.5) - 0.1) < 1e-12
    assert worse_by("roc_auc", 0.80, 0.75) > 0
    loss = MonitorConfig.model_validate({"performance": {"metric": "log_loss", "minimum": 0.6}})
    assert decide(loss, check(metric="log_loss", baseline=0.4, realized=0.7)).degraded
    assert not decide(loss, check(metric="log_loss", baseline=0.4, realized=0.5)).degraded
