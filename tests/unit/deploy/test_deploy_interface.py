"""The deployment interface: the target registry, input checks, the registry records, the shared smoke test."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pandas as pd
import pytest

from mlops_provider.deploy import DeploymentResult, DeploymentTarget, get_target
from mlops_provider.deploy.base import check_canary_steps, check_strategy
from mlops_provider.deploy.smoke import smoke_test, split_payload
from mlops_provider.exceptions import DeploymentError
from mlops_provider.registry import record_failure, record_serving


def test_importing_the_package_stays_light() -> None:
    code = ("import sys, mlops_provider.deploy; "
            "print(sorted(m for m in ('mlflow', 'pandas', 'fastapi', 'uvicorn', 'httpx', 'airflow', 'sklearn') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_get_target_builds_the_local_target_lazily(tmp_path: Any) -> None:
    from mlops_provider.deploy.local import LocalTarget

    target = get_target("local", state_dir=tmp_path)
    assert isinstance(target, LocalTarget) and isinstance(target, DeploymentTarget)
    assert target.name == "local" and target.state_dir == tmp_path


def test_get_target_rejects_an_unknown_name() -> None:
    with pytest.raises(DeploymentError, match="unknown deployment target 'heroku'.*local, kubernetes, sagemaker"):
        get_target("heroku")


def test_strategy_and_canary_steps_are_checked() -> None:
    check_strategy("credit", "canary")
    with pytest.raises(DeploymentError, match="model 'credit': unknown deployment strategy 'shadow'"):
        check_strategy("credit", "shadow")
    assert check_canary_steps("credit", [10, 50, 100]) == [10, 50, 100]
    for bad in ([], [10, 50], [50, 10, 100], [0, 100], [10, 10, 100]):
        with pytest.raises(DeploymentError, match="canary steps must rise"):
            check_canary_steps("credit", bad)


def test_result_to_dict_is_json_ready() -> None:
    result = DeploymentResult("local", "credit", "2", "canary", False, "1", "1", ["loaded v2"], "rolled back")
    assert result.to_dict() == {"target": "local", "model": "credit", "version": "2", "strategy": "canary",
                                "success": False, "served_version": "1", "previous_version": "1",
                                "steps": ["loaded v2"], "message": "rolled back", "environment": None}


class FakeRegistry:
    """The MLflow client calls the records make, over dicts (the alias history's own writes are tested against the
    real MLflow server in tests/integration/test_alias_history.py; here they fail and are only logged)."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.model_tags: dict[str, str] = {}
        self.version_tags: dict[tuple[str, str], str] = {}

    def get_model_version_by_alias(self, model: str, alias: str) -> Any:
        from mlflow.exceptions import MlflowException

        if alias not in self.aliases:
            raise MlflowException(f"alias {alias} not found", error_code="RESOURCE_DOES_NOT_EXIST")
        return type("Version", (), {"version": self.aliases[alias]})()

    def set_registered_model_alias(self, model: str, alias: str, version: str) -> None:
        self.aliases[alias] = version

    def get_registered_model(self, model: str) -> Any:
        return type("RegisteredModel", (), {"aliases": dict(self.aliases), "tags": dict(self.model_tags)})()

    def set_registered_model_tag(self, model: str, key: str, value: str) -> None:
        self.model_tags[key] = value

    def set_model_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        self.version_tags[(version, key)] = value


def test_record_serving_moves_the_alias_and_remembers_the_previous_version() -> None:
    registry = FakeRegistry()
    record_serving(registry, "credit", "1", "local")  # type: ignore[arg-type]
    assert registry.aliases == {"serving_local": "1"} and registry.model_tags == {}
    record_serving(registry, "credit", "2", "local")  # type: ignore[arg-type]
    assert registry.aliases == {"serving_local": "2"}
    assert registry.model_tags == {"mlops.deploy.local.previous": "1"}
    record_failure(registry, "credit", "3", "local", "predictions differ")  # type: ignore[arg-type]
    assert registry.version_tags == {("3", "mlops.deploy.local.failed"): "predictions differ"}


ROWS = pd.DataFrame({"x": [1.0, float("nan"), 3.0], "c": ["a", None, "b"]})


def test_split_payload_is_json_safe() -> None:
    payload = split_payload(ROWS)
    assert payload == {"dataframe_split": {"columns": ["x", "c"], "data": [[1.0, "a"], [None, None], [3.0, "b"]]}}


def test_smoke_test_passes_on_equal_predictions_within_budget() -> None:
    sent: list[dict[str, Any]] = []

    def invoke(payload: dict[str, Any]) -> list[Any]:
        sent.append(payload)
        return [0] * len(payload["dataframe_split"]["data"])

    check = smoke_test(invoke, ROWS, [0, 0, 0], budget_ms=1000, label="v2")
    assert check.ok and check.rows == 3 and len(sent) == 3, check.message
    assert "3 predictions equal the model's" in check.message


def test_smoke_test_fails_on_differing_predictions_naming_the_first() -> None:
    check = smoke_test(lambda p: [1], ROWS, [1, 0, 1], budget_ms=1000, label="v2")
    assert not check.ok and check.mismatches == 1
    assert "1 of 3 predictions differ" in check.message and "row 1: served 1, model 0" in check.message


def test_smoke_test_fails_over_the_latency_budget() -> None:
    check = smoke_test(lambda p: [0], ROWS, [0, 0, 0], budget_ms=0, label="v2")
    assert not check.ok and "over the budget of 0 ms" in check.message


def test_smoke_test_fails_when_the_endpoint_fails() -> None:
    def invoke(payload: dict[str, Any]) -> list[Any]:
        raise RuntimeError("HTTP 500: boom")

    check = smoke_test(invoke, ROWS, [0, 0, 0], budget_ms=1000, label="v2")
    assert not check.ok and "HTTP 500: boom" in check.message


def test_smoke_test_compares_floats_closely_not_by_identity() -> None:
    check = smoke_test(lambda p: [0.1 + 0.2], ROWS.head(1), [0.3], budget_ms=1000, label="v2")
    assert check.ok and not math.isnan(check.p95_ms)


def test_a_server_started_from_an_airflow_task_does_not_inherit_its_db_block() -> None:
    from mlops_provider.deploy.local import DB_BLOCKED, server_env

    task_env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": DB_BLOCKED, "AIRFLOW__CORE__SQL_ALCHEMY_CONN": DB_BLOCKED,
                "MLOPS_DATA_DIR": "/data", "MLFLOW_TRACKING_URI": "http://old"}
    env = server_env("http://127.0.0.1:5000", task_env)
    assert env == {"MLOPS_DATA_DIR": "/data", "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000", "OMP_NUM_THREADS": "1"}


def test_a_latency_spike_is_measured_again_a_slow_model_fails_twice() -> None:
    import time

    import pandas as pd

    from mlops_provider.deploy.smoke import smoke_test

    rows = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    calls = {"n": 0}

    def spiky(payload: dict) -> list:
        calls["n"] += 1
        if calls["n"] <= 4:  # the whole first pass is slow (a busy machine)
            time.sleep(0.05)
        return [row[0] * 2 for row in payload["dataframe_split"]["data"]]

    check = smoke_test(spiky, rows, [2.0, 4.0, 6.0, 8.0], budget_ms=30, label="spiky")
    assert check.ok and calls["n"] == 8 and "measured twice" in check.message

    def slow(payload: dict) -> list:
        time.sleep(0.05)
        return [row[0] * 2 for row in payload["dataframe_split"]["data"]]

    check = smoke_test(slow, rows, [2.0, 4.0, 6.0, 8.0], budget_ms=30, label="slow")
    assert not check.ok and "over the budget of 30 ms (measured twice" in check.message


@pytest.mark.parametrize(("event", "message"), [
    (None, "the deployment resumed without a trigger event \\(got None\\)"),
    ({"message": "no status"}, "the deployment resumed without a trigger event"),
])
def test_the_deferred_deploy_refuses_a_missing_event(demo_env: Any, event: Any, message: str) -> None:
    from airflow.sdk.exceptions import AirflowException

    from mlops_provider.operators.deployment import DeployModelOperator

    operator = DeployModelOperator(task_id="deploy", model="credit_default", version="1", deferrable=True)
    with pytest.raises(AirflowException, match=f"model 'credit_default' on local: {message}"):
        operator.execute_complete({}, event=event, state={"model": "credit_default"})
