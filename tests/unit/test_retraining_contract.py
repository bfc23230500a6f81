"""The retraining request: conf contract at the api-server and request resolution (cooldown: test_cooldown.py)."""

from __future__ import annotations

import json
from collections import namedtuple
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from mlops_provider.api_guard import ConfContract, ConfContractMiddleware
from mlops_provider.exceptions import ConfigError
from mlops_provider.retraining import CONF_KEYS, REQUIRED_CONF_KEYS, resolve_request

CONTRACT = ConfContract(allowed=frozenset(CONF_KEYS), required=frozenset(REQUIRED_CONF_KEYS))


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """Stands in for Airflow's router: answers 200 with the body it received."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body or b"{}"})


def post(path: str, payload: Any) -> httpx.Response:
    app = ConfContractMiddleware(echo_app, {"mlops_retraining": CONTRACT})
    transport = httpx.ASGITransport(app=app)

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://airflow") as client:
            return await client.post(path, content=json.dumps(payload))

    import asyncio

    return asyncio.run(call())


RUNS = "/api/v2/dags/mlops_retraining/dagRuns"


def test_valid_conf_passes_through_with_its_body() -> None:
    payload = {"logical_date": None, "dag_run_id": "r1",
               "conf": {"model": "credit_default", "reason": "drift", "requested_by": "mon-1"}}
    response = post(RUNS, payload)
    assert response.status_code == 200
    assert response.json() == payload


@pytest.mark.parametrize(("conf", "detail"), [
    ({"model": "credit_default", "colour": "red"}, "unknown key(s) ['colour']"),
    ({"reason": "drift"}, "missing required key(s) ['model']"),
    ({"model": None}, "missing required key(s) ['model']"),
    (None, "missing required key(s) ['model']"),
    (["model"], "expected an object, got list"),
])
def test_broken_conf_is_400_before_airflow_sees_it(conf: Any, detail: str) -> None:
    response = post(RUNS, {"logical_date": None, "conf": conf})
    assert response.status_code == 400
    assert detail in response.json()["detail"]


@pytest.mark.parametrize("prefix", ["/airflow", "/team/a/airflow"])
def test_contract_holds_under_a_path_prefix(prefix: str) -> None:
    """`[api] base_url = http://host/airflow`: the trigger path carries the prefix."""
    response = post(f"{prefix}{RUNS}", {"logical_date": None, "conf": {"model": "m", "colour": "red"}})
    assert response.status_code == 400
    assert "unknown key(s) ['colour']" in response.json()["detail"]


def test_a_body_over_the_limit_is_413_not_cut() -> None:
    from mlops_provider.api_guard import MAX_BODY

    response = post(RUNS, {"conf": {"model": "m", "drift": {"note": "x" * MAX_BODY}}})
    assert response.status_code == 413
    assert f"over {MAX_BODY} bytes" in response.json()["detail"]


def test_other_dags_and_paths_are_untouched() -> None:
    assert post("/api/v2/dags/mlops_training/dagRuns", {"conf": {"anything": 1}}).status_code == 200
    assert post(f"{RUNS}/some_run/clear", {"conf": {"anything": 1}}).status_code == 200


def test_request_from_conf_and_from_a_drift_event() -> None:
    by_rest = resolve_request({"model": "m", "reason": "performance", "requested_by": "grafana", "drift": None},
                              {"model": "m", "reason": "performance", "requested_by": "grafana"}, {})
    assert (by_rest["model"], by_rest["reason"]) == ("m", "performance")
    assert by_rest["tags"] == {"mlops.requested_by": "grafana"}

    asset = namedtuple("AssetKey", "uri")("x-mlops://credit_default/drift")
    old = SimpleNamespace(timestamp=datetime(2026, 1, 1, tzinfo=UTC), extra={"drift_share": 0.2})
    new = SimpleNamespace(timestamp=datetime(2026, 1, 2, tzinfo=UTC), extra={"drift_share": 0.7})
    by_event = resolve_request({"model": None, "reason": "manual"}, {}, {asset: [old, new]})
    assert by_event["model"] == "credit_default" and by_event["reason"] == "drift"
    assert json.loads(by_event["tags"]["mlops.drift"]) == {"drift_share": 0.7}


def test_a_performance_event_asks_for_a_performance_retraining() -> None:
    drift = namedtuple("AssetKey", "uri")("x-mlops://credit_default/drift")
    performance = namedtuple("AssetKey", "uri")("x-mlops://credit_default/performance")
    older = SimpleNamespace(timestamp=datetime(2026, 1, 1, tzinfo=UTC), extra={"drift_share": 0.2})
    newer = SimpleNamespace(timestamp=datetime(2026, 1, 2, tzinfo=UTC), extra={"policy": "degraded"})
    request = resolve_request({"model": None}, {}, {drift: [older], performance: [newer]})
    assert (request["model"], request["reason"]) == ("credit_default", "performance")
    assert request["requested_by"] == "performance-monitor"
    assert json.loads(request["tags"]["mlops.drift"]) == {"policy": "degraded"}


def test_request_without_model_or_with_unknown_conf_is_refused() -> None:
    with pytest.raises(ConfigError, match="retraining needs a model"):
        resolve_request({"model": None}, {}, {})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['x'\]"):
        resolve_request({"model": "m"}, {"model": "m", "x": 1}, {})
