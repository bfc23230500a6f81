"""Cooldowns that keep one drift episode from starting a flood of actions: drift events and retraining runs.

Plain functions over timestamps. The Airflow parts find the last time: a drift event's in the asset events
Airflow recorded (`EmitDriftEventOperator`), a successful retraining's in the Variable named here, written by the
last task of a run whose whole chain succeeded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

LAST_RETRAINING_VARIABLE = "mlops_retrain_last_success__{model}"
POLICY_REQUESTER = "performance-monitor"  # who asks when the performance policy says retrain


def cooldown_until(last: str | None, minutes: int, now: datetime) -> datetime | None:
    """The end of the cooldown that started at `last` (ISO time), or None when there is none or it is over."""
    if not last:
        return None
    until = datetime.fromisoformat(last) + timedelta(minutes=minutes)
    return until if now < until else None


def drift_event_block(model: str, *, last_event: str | None, cooldown_minutes: int, now: datetime) -> str | None:
    """Why a drift event for `model` must not be emitted (the last one was within `cooldown_minutes`), or None."""
    if cooldown_until(last_event, cooldown_minutes, now) is None:
        return None
    return (f"drift found but the last drift event was at {last_event}, within the cooldown of "
            f"{cooldown_minutes} minutes: not emitting again")


def retraining_block(request: dict[str, Any], *, last_success: str | None, cooldown_minutes: int,
                     now: datetime) -> str | None:
    """Why this request must be skipped (a successful retraining of the model ended less than
    `cooldown_minutes` ago), or None. A person's `manual` request is never held back, nor a request of the
    performance policy: labels showed the model degraded (a retraining on drift just before may have learnt
    nothing new), and the policy has its own cooldown per action (`monitor.cooldown_minutes`)."""
    if request["reason"] == "manual" or not last_success or cooldown_minutes <= 0:
        return None
    if request["reason"] == "performance" and request.get("requested_by") == POLICY_REQUESTER:
        return None
    until = cooldown_until(last_success, cooldown_minutes, now)
    if until is None:
        return None
    ended = datetime.fromisoformat(last_success)
    return (f"model '{request['model']}' was retrained successfully at {ended.isoformat(timespec='seconds')}; "
            f"cooldown of {cooldown_minutes} minutes until {until.isoformat(timespec='seconds')}: "
            f"skipping this '{request['reason']}' request from {request['requested_by']}")


RUNNING_RETRAINING_VARIABLE = "mlops_retrain_running__{model}"
ACTIVE_RUN_STATES = ("queued", "running")


def retraining_in_progress(model: str, *, run_id: str, holder: str | None, holder_state: str | None) -> str | None:
    """Why this run must not retrain `model` because another run does (`holder`, the run id the model's running
    Variable names, and that run's state), or None. A holder that has ended, or this run itself (a retry), does
    not block: the Variable is never cleared, an ended run simply stops counting."""
    if not holder or holder == run_id or holder_state not in ACTIVE_RUN_STATES:
        return None
    return (f"model '{model}' is being retrained by run {holder} ({holder_state}; it may be waiting for a "
            f"person's approval): skipping this request, which that run already answers")
