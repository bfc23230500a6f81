"""The cooldowns: one drift episode emits one drift event and starts one retraining, a person is never held back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlops_provider.cooldown import cooldown_until, drift_event_block, retraining_block


def test_cooldown_skips_automatic_requests_but_never_a_person() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    recent = (now - timedelta(minutes=30)).isoformat()
    request = {"model": "m", "reason": "drift", "requested_by": "monitor"}
    blocked = retraining_block(request, last_success=recent, cooldown_minutes=120, now=now)
    assert blocked and "cooldown of 120 minutes until 2026-01-01T13:30:00+00:00" in blocked
    assert "skipping this 'drift' request from monitor" in blocked
    assert retraining_block({**request, "reason": "manual"}, last_success=recent, cooldown_minutes=120, now=now) is None
    assert retraining_block(request, last_success=recent, cooldown_minutes=20, now=now) is None
    assert retraining_block(request, last_success=None, cooldown_minutes=120, now=now) is None
    policy = {"model": "m", "reason": "performance", "requested_by": "performance-monitor"}
    assert retraining_block(policy, last_success=recent, cooldown_minutes=120, now=now) is None, \
        "the performance policy has its own cooldown"
    by_rest = {"model": "m", "reason": "performance", "requested_by": "grafana"}
    assert retraining_block(by_rest, last_success=recent, cooldown_minutes=120, now=now)


def test_a_drift_event_within_the_cooldown_is_not_emitted_again() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    recent = (now - timedelta(minutes=30)).isoformat()
    blocked = drift_event_block("m", last_event=recent, cooldown_minutes=60, now=now)
    assert blocked == (f"drift found but the last drift event was at {recent}, within the cooldown of "
                       "60 minutes: not emitting again")
    assert drift_event_block("m", last_event=recent, cooldown_minutes=30, now=now) is None
    assert drift_event_block("m", last_event=None, cooldown_minutes=60, now=now) is None
    assert drift_event_block("m", last_event=recent, cooldown_minutes=0, now=now) is None


def test_cooldown_until_is_the_end_of_a_running_cooldown_only() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert cooldown_until("2026-01-01T11:00:00+00:00", 90, now) == datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    assert cooldown_until("2026-01-01T11:00:00+00:00", 60, now) is None
    assert cooldown_until(None, 60, now) is None


def test_a_model_being_retrained_by_another_active_run_is_skipped() -> None:
    from mlops_provider.cooldown import retraining_in_progress

    why = retraining_in_progress("credit_default", run_id="b", holder="a", holder_state="running")
    assert why is not None and "run a (running" in why and "credit_default" in why
    assert retraining_in_progress("credit_default", run_id="b", holder="a", holder_state="queued") is not None


@pytest.mark.parametrize(("holder", "state"), [
    (None, None),            # nobody retrains it
    ("b", "running"),        # this run itself: a retry of request
    ("a", "success"),        # the holder ended: the Variable is never cleared, it stops counting
    ("a", "failed"),
    ("a", None),             # the holder's run was deleted
])
def test_an_ended_holder_or_this_run_itself_does_not_block(holder: str | None, state: str | None) -> None:
    from mlops_provider.cooldown import retraining_in_progress

    assert retraining_in_progress("credit_default", run_id="b", holder=holder, holder_state=state) is None
