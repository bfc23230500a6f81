"""Idempotency keys, run ids and the retraining conf of the REST contract."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from mlops_provider.client import AirflowClient, idempotency_key, retraining_conf, run_id_for, trigger_retraining
from mlops_provider.client.airflow import RUN_ID
from tests.helpers.fake_airflow import FakeAirflow

T = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)


def test_the_key_is_stable_within_a_bucket_and_changes_across_buckets() -> None:
    same_hour = idempotency_key("credit_default", "drift", now=T.replace(minute=59, second=59))
    assert idempotency_key("credit_default", "drift", now=T) == same_hour
    assert idempotency_key("credit_default", "drift", now=T.replace(hour=11)) != same_hour
    assert idempotency_key("credit_default", "manual", now=T) != same_hour
    assert idempotency_key("breast_cancer", "drift", now=T) != same_hour
    assert idempotency_key("credit_default", "drift", bucket_minutes=15, now=T) != idempotency_key(
        "credit_default", "drift", bucket_minutes=15, now=T.replace(minute=20))


def test_buckets_are_utc() -> None:
    from datetime import timedelta, timezone

    local = T.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert idempotency_key("m", "drift", now=local) == idempotency_key("m", "drift", now=T)


def test_run_ids_are_readable_valid_and_stable() -> None:
    key = idempotency_key("credit_default", "drift", now=T)
    run_id = run_id_for(key, model="credit_default", reason="drift")

    assert re.fullmatch(r"mlops__credit_default__drift__[0-9a-f]{12}", run_id)
    assert run_id == run_id_for(idempotency_key("credit_default", "drift", now=T.replace(minute=40)),
                                model="credit_default", reason="drift")
    assert run_id != run_id_for(idempotency_key("credit_default", "drift", now=T.replace(hour=11)),
                                model="credit_default", reason="drift")
    odd = run_id_for("alert #7 / prod", model="Crédit model", reason="drift")
    assert RUN_ID.match(odd) and odd.startswith("mlops__Cr-dit-model__drift__")
    with pytest.raises(ValueError, match="must not be empty"):
        run_id_for("", model="m", reason="drift")


def test_the_conf_holds_exactly_the_contract_keys() -> None:
    assert retraining_conf("credit_default", "manual", "ops@team") == {
        "model": "credit_default", "reason": "manual", "requested_by": "ops@team"}
    drift = {"drift_share": 0.6}
    assert retraining_conf("credit_default", "drift", "m-1", drift=drift)["drift"] == drift
    with pytest.raises(ValueError, match="reason 'because' is not one of"):
        retraining_conf("credit_default", "because", "m-1")
    with pytest.raises(ValueError, match="requested_by 'has space'"):
        retraining_conf("credit_default", "drift", "has space")


def test_trigger_retraining_twice_in_an_hour_starts_one_run(airflow: FakeAirflow, client: AirflowClient) -> None:
    first = trigger_retraining(client, "credit_default", "performance", "grafana", now=T)
    again = trigger_retraining(client, "credit_default", "performance", "grafana", now=T.replace(minute=50))
    later = trigger_retraining(client, "credit_default", "performance", "grafana", now=T.replace(hour=11))
    own = trigger_retraining(client, "credit_default", "performance", "grafana", key="alert-7")

    assert (first.created, again.created, later.created, own.created) == (True, False, True, True)
    assert first.dag_run_id == again.dag_run_id != later.dag_run_id
    assert own.dag_run_id == run_id_for("alert-7", model="credit_default", reason="performance")
    assert len(airflow.runs) == 3
