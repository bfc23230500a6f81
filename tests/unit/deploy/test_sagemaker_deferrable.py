"""The SageMaker target's deferrable path: `begin` starts the change and hands the wait to
`SageMakerEndpointTrigger`; `resume` describes the endpoint and decides. Endpoint sequences moto cannot play
(UpdateEndpoint, an update, an auto-rollback) come from botocore's Stubber, which checks every request and response
against the real SageMaker API; creation, S3 and the trigger's own polling run against moto's server; registry
records go to the real MLflow test server. Every state crosses a `json.dumps` round trip, as it does in Airflow."""

from __future__ import annotations

import asyncio
import importlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_provider.deploy import DeferrableTarget, Pending
from mlops_provider.deploy.sagemaker import STATE_KEYS, TRIGGER, Names, SageMakerOptions, SageMakerTarget, names
from mlops_provider.exceptions import DeploymentError, DeploymentRefused
from mlops_provider.triggers import sagemaker as trigger_module
from mlops_provider.triggers.sagemaker import SageMakerEndpointTrigger
from tests.helpers.deploy_registry import model_config, register_versions, served_on
from tests.helpers.moto_stand_in import aws_connection
from tests.helpers.sagemaker_stub import ENDPOINT_OPS, OPTIONS, Routed, endpoint, stubbed_client, target

alias = served_on("sagemaker")


@pytest.fixture
def aws_conn(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`aws_default` pointing at moto's server, the way a deployment configures the connection."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(moto_url))
    return moto_url


def roundtrip(value: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(value))
    assert copied == value
    return copied


def first_event(trigger: SageMakerEndpointTrigger) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(run(), timeout=20))


class Update:
    """Model `<sm>_*` with v1 created on moto and serving; `begin` of v2 with the update sent through a Stubber."""

    def __init__(self, aws: tuple[Any, Any], tracking_uri: str, strategy: str = "blue_green") -> None:
        self.sagemaker, self.s3 = aws
        self.model, self.client = register_versions(tracking_uri, "smd", 2)
        self.strategy = strategy
        self.why = f"Rolled back: CloudWatch alarm {self.model}-5xx went into ALARM during the deployment"
        self.config = model_config(self.model, "sagemaker", strategy, **OPTIONS, rollback_alarms=[f"{self.model}-5xx"])
        assert target(self.sagemaker, self.s3, self.client).deploy(self.model, "1", strategy, self.config).success
        options = SageMakerOptions.parse(self.model, self.config.deploy.options)
        self.old: Names = names(self.model, "1", options)
        self.new: Names = names(self.model, "2", options)

    def begin(self) -> Pending:
        stubbed, stub = stubbed_client()
        by_name = {"EndpointName": self.new.endpoint}
        stub.add_response("describe_endpoint", endpoint(self.new.endpoint, self.old.endpoint_config, "InService"),
                          by_name)
        stub.add_response("update_endpoint", {"EndpointArn": endpoint(self.new.endpoint, "", "")["EndpointArn"]}, {
            "EndpointName": self.new.endpoint, "EndpointConfigName": self.new.endpoint_config,
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE",
                                                                          "WaitIntervalInSeconds": 300},
                                          "TerminationWaitInSeconds": 300},
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": f"{self.model}-5xx"}]}}})
        with stub:
            pending = self.deployer(stubbed).begin(self.model, "2", self.strategy, self.config)
        stub.assert_no_pending_responses()  # the update was sent, and begin did not wait
        assert isinstance(pending, Pending), pending
        return pending

    def resume(self, state: dict[str, Any], event: dict[str, Any], *described: dict[str, Any]) -> Any:
        """`resume` on a new target (as on another worker) with the endpoint described as `described`."""
        stubbed, stub = stubbed_client()
        for response in described:
            stub.add_response("describe_endpoint", response, {"EndpointName": self.new.endpoint})
        with stub:
            result = self.deployer(stubbed).resume(roundtrip(state), roundtrip(event), self.config)
        stub.assert_no_pending_responses()
        return result

    def deployer(self, stubbed: Any) -> SageMakerTarget:
        return target(Routed(self.sagemaker, stubbed, ENDPOINT_OPS), self.s3, self.client)


@pytest.fixture
def update(aws: tuple[Any, Any], mlflow_server: str) -> Update:
    return Update(aws, mlflow_server)


def test_begin_sends_the_update_and_returns_a_json_pending_on_the_endpoint_trigger(update: Update) -> None:
    pending = update.begin()

    assert isinstance(SageMakerTarget(), DeferrableTarget)
    assert pending.trigger == TRIGGER
    state, kwargs = roundtrip(pending.state), roundtrip(pending.trigger_kwargs)
    assert set(state) == STATE_KEYS
    assert {key: state[key] for key in ("model", "version", "strategy", "endpoint", "endpoint_config", "creating",
                                        "previous_version")} == {
        "model": update.model, "version": "2", "strategy": "blue_green", "endpoint": update.new.endpoint,
        "endpoint_config": update.new.endpoint_config, "creating": False, "previous_version": "1"}
    assert any(step.startswith(f"updating endpoint {update.new.endpoint} to {update.new.endpoint_config}: "
                               "blue/green, all traffic at once") for step in state["steps"]), state["steps"]
    assert any(step.startswith(f"created model {update.new.model}") for step in pending.steps)
    deadline = datetime.fromisoformat(state["deadline"]) - datetime.now(UTC)
    assert timedelta(seconds=5) < deadline <= timedelta(seconds=OPTIONS["timeout"])

    module, _, name = pending.trigger.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**kwargs)  # what the operator does
    assert trigger.serialize() == (TRIGGER, kwargs)
    assert kwargs["endpoint"] == update.new.endpoint and kwargs["aws_conn_id"] == "aws_default"
    assert alias(update.client, update.model) == "1"  # nothing is recorded before the endpoint settles


def test_resume_after_an_auto_rollback_fails_with_the_reason_and_keeps_the_previous_version(update: Update) -> None:
    state = update.begin().state
    rolled_back = endpoint(update.new.endpoint, update.old.endpoint_config, "InService", FailureReason=update.why)
    # the trigger calls a settled endpoint a success: resume must look for itself
    result = update.resume(state, {"status": "success", "endpoint_status": "InService"}, rolled_back)

    assert not result.success and (result.served_version, result.previous_version) == ("1", "1"), result
    assert update.why in result.message and "v1 still serves" in result.message
    assert f"SageMaker rolled endpoint {update.new.endpoint} back to {update.old.endpoint_config}: {update.why}" \
        in result.steps
    assert alias(update.client, update.model) == "1"
    assert update.why in update.client.get_model_version(update.model, "2").tags["mlops.deploy.sagemaker.failed"]


def test_resume_after_a_successful_update_records_the_new_version(update: Update) -> None:
    state = update.begin().state
    result = update.resume(state, {"status": "success"},
                           endpoint(update.new.endpoint, update.new.endpoint_config, "InService"))

    assert result.success and (result.served_version, result.previous_version) == ("2", "1"), result
    assert result.steps[:len(state["steps"])] == state["steps"]
    assert result.steps[-1] == f"endpoint {update.new.endpoint} is InService with {update.new.endpoint_config}"
    assert alias(update.client, update.model) == "2"
    assert update.client.get_registered_model(update.model).tags["mlops.deploy.sagemaker.previous"] == "1"
    assert "mlops.deploy.sagemaker.failed" not in update.client.get_model_version(update.model, "2").tags


def test_resume_after_a_timeout_of_a_busy_endpoint_is_an_error_naming_it(update: Update) -> None:
    state = update.begin().state
    still = endpoint(update.new.endpoint, update.old.endpoint_config, "Updating",
                     PendingDeploymentSummary={"EndpointConfigName": update.new.endpoint_config})
    event = {"status": "timeout", "message": f"endpoint {update.new.endpoint} is still Updating at the deadline"}
    with pytest.raises(DeploymentError, match=f"endpoint {update.new.endpoint} is still Updating after the wait "
                                              f"for {update.new.endpoint_config} ended \\(timeout: ") as raised:
        update.resume(state, event, still)
    assert not isinstance(raised.value, DeploymentRefused)  # a change is under way: not bad input
    assert alias(update.client, update.model) == "1"
    assert "mlops.deploy.sagemaker.failed" not in update.client.get_model_version(update.model, "2").tags

    # a retried task finds the change under way and waits for it again instead of refusing
    stubbed, stub = stubbed_client()
    stub.add_response("describe_endpoint", still, {"EndpointName": update.new.endpoint})
    with stub:
        again = update.deployer(stubbed).begin(update.model, "2", "blue_green", update.config)
    assert isinstance(again, Pending) and again.state["endpoint_config"] == update.new.endpoint_config
    assert again.state["steps"] == [f"endpoint {update.new.endpoint} is already Updating towards "
                                    f"{update.new.endpoint_config}: waiting for it"]


def test_bad_input_is_refused_before_anything_changes(update: Update) -> None:
    deployer = target(update.sagemaker, update.s3, update.client)
    for config, match in (
            (model_config(update.model, "sagemaker", image=OPTIONS["image"]), "needs deploy.options"),
            (model_config(update.model, "sagemaker", **{**OPTIONS, "instance_count": 0}),
             "deploy.options.instance_count"),
            (model_config(update.model, "sagemaker", "canary", canary_steps=[60, 100], **OPTIONS),
             "canary takes at most 50%")):
        with pytest.raises(DeploymentRefused, match=match):
            deployer.begin(update.model, "2", config.deploy.strategy, config)
    stubbed, stub = stubbed_client()
    stub.add_response("describe_endpoint", endpoint(
        update.new.endpoint, update.old.endpoint_config, "Updating",
        PendingDeploymentSummary={"EndpointConfigName": "another-config"}), {"EndpointName": update.new.endpoint})
    with stub, pytest.raises(DeploymentRefused, match="another change is in progress"):
        update.deployer(stubbed).begin(update.model, "2", "blue_green", update.config)
    with pytest.raises(DeploymentError, match="without the state begin\\(\\) returned \\(missing creating, deadline"):
        deployer.resume({"model": update.model, "version": "2", "strategy": "blue_green"}, {}, update.config)


def test_the_trigger_waits_for_a_created_endpoint_on_moto_and_resume_records_it(aws, aws_conn, mlflow_server) -> None:
    model, client = register_versions(mlflow_server, "smd", 1)
    config = model_config(model, "sagemaker", "rolling", **OPTIONS)
    deployer = SageMakerTarget(mlflow_client=client, poll_interval=0.05)  # clients of the aws_default connection
    pending = deployer.begin(model, "1", "rolling", config)
    assert isinstance(pending, Pending) and pending.state["creating"] is True, pending
    assert alias(client, model) is None

    module, _, name = pending.trigger.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**roundtrip(pending.trigger_kwargs))
    event = first_event(trigger)
    assert event == {"status": "success", "endpoint": pending.state["endpoint"], "endpoint_status": "InService",
                     "endpoint_config": pending.state["endpoint_config"], "failure_reason": None,
                     "message": f"endpoint {pending.state['endpoint']} is InService"}

    result = SageMakerTarget(mlflow_client=client).resume(roundtrip(pending.state), roundtrip(event), config)
    assert result.success and result.served_version == "1" and result.previous_version is None, result
    assert alias(client, model) == "1"
    live = aws[0].describe_endpoint(EndpointName=pending.state["endpoint"])
    assert live["EndpointConfigName"] == pending.state["endpoint_config"]

    missing = first_event(SageMakerEndpointTrigger(endpoint="mlops-nothing-here", deadline=trigger.deadline))
    assert missing["status"] == "error" and missing["message"] == "endpoint mlops-nothing-here does not exist"


def test_the_trigger_polls_through_a_rollback_and_times_out_on_a_busy_endpoint(monkeypatch) -> None:
    name, old = "mlops-credit", "mlops-credit-v1-0123abcd"
    why = "Rolled back: CloudWatch alarm credit-5xx went into ALARM during the deployment"
    stubbed, stub = stubbed_client()
    for status in ("Updating", "RollingBack"):
        stub.add_response("describe_endpoint", endpoint(name, old, status), {"EndpointName": name})
    stub.add_response("describe_endpoint", endpoint(name, old, "InService", FailureReason=why), {"EndpointName": name})
    built: list[tuple[str | None, str | None]] = []
    monkeypatch.setattr(trigger_module, "sagemaker_client",
                        lambda conn_id, region: built.append((conn_id, region)) or stubbed)
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    with stub:
        event = first_event(SageMakerEndpointTrigger(endpoint=name, deadline=later, poll_interval=0.01,
                                                     aws_conn_id="aws_prod", region_name="eu-west-1"))
    stub.assert_no_pending_responses()
    assert built == [("aws_prod", "eu-west-1")]
    assert event["status"] == "success" and event["endpoint_status"] == "InService"
    assert (event["endpoint_config"], event["failure_reason"]) == (old, why)

    stubbed, stub = stubbed_client()
    stub.add_response("describe_endpoint", endpoint(name, old, "Updating"), {"EndpointName": name})
    monkeypatch.setattr(trigger_module, "sagemaker_client", lambda conn_id, region: stubbed)
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    with stub:
        event = first_event(SageMakerEndpointTrigger(endpoint=name, deadline=past, poll_interval=0.01))
    assert event["status"] == "timeout" and event["endpoint_status"] == "Updating"
    assert event["message"] == f"endpoint {name} is still Updating at the deadline {past}"
