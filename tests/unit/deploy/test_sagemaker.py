"""The SageMaker target against moto's server (S3 and the SageMaker calls moto implements: CreateModel,
CreateEndpointConfig, CreateEndpoint, Describe*) and botocore's Stubber for what moto lacks (UpdateEndpoint, the
DescribeEndpoint sequences of an update, an auto-rollback, a failed creation). The Stubber checks every request
and response against the real SageMaker API model. Registry records go to the real MLflow test server."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import boto3
import pytest
from botocore.validate import validate_parameters

from mlops_provider.deploy import get_target
from mlops_provider.deploy.sagemaker import (
    SageMakerOptions,
    deployment_config,
    names,
    sagemaker_name,
    version_of_config,
)
from mlops_provider.exceptions import DeploymentError
from tests.helpers.deploy_registry import model_config, register_versions, served_on
from tests.helpers.sagemaker_stub import BUCKET, ENDPOINT_OPS, OPTIONS, Routed, endpoint, stubbed_client, target


@pytest.fixture
def registry(mlflow_server: str) -> Any:
    def make(count: int = 2) -> tuple[str, Any]:
        return register_versions(mlflow_server, "sm", count)

    return make


alias = served_on("sagemaker")


def test_a_first_deploy_packages_creates_and_waits_through_the_providers_hook(aws, moto_url, registry,
                                                                              monkeypatch) -> None:
    sagemaker, s3 = aws
    model, client = registry(1)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(
        {"conn_type": "aws", "extra": {"endpoint_url": moto_url, "region_name": "us-east-1"}}))
    config = model_config(model, "sagemaker", "canary", **OPTIONS)
    deployer = get_target("sagemaker", mlflow_client=client, poll_interval=0.01)
    result = deployer.deploy(model, "1", "canary", config)
    assert result.success and result.served_version == "1" and result.previous_version is None, result

    wanted = names(model, "1", SageMakerOptions.parse(model, config.deploy.options))
    assert wanted.endpoint == sagemaker_name(model) and wanted.key == f"deploy/{model}/1/model.tar.gz"
    archive = s3.get_object(Bucket=BUCKET, Key=wanted.key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["MLmodel", "model.pkl"]  # the model folder at the archive's root
    described = sagemaker.describe_model(ModelName=wanted.model)
    assert described["ExecutionRoleArn"] == OPTIONS["execution_role_arn"]
    container = described["PrimaryContainer"]
    assert container["Image"] == OPTIONS["image"] and container["ModelDataUrl"] == wanted.model_data
    assert container["Environment"]["MLFLOW_DEPLOYMENT_FLAVOR_NAME"] == "python_function"
    variant = sagemaker.describe_endpoint_config(EndpointConfigName=wanted.endpoint_config)["ProductionVariants"][0]
    assert (variant["ModelName"], variant["InstanceType"], variant["InitialInstanceCount"]) == \
        (wanted.model, "ml.m5.large", 2)
    live = sagemaker.describe_endpoint(EndpointName=wanted.endpoint)
    assert live["EndpointStatus"] == "InService" and live["EndpointConfigName"] == wanted.endpoint_config
    assert version_of_config(live["EndpointConfigName"]) == "1"
    assert alias(client, model) == "1"
    status = deployer.status(model, config)
    assert status.healthy and status.served_version == "1" and status.traffic == {"1": 100}

    calls: list[str] = []
    deployer.sagemaker_client.meta.events.register("before-call.sagemaker",
                                                   lambda model, **_: calls.append(model.name))
    again = deployer.deploy(model, "1", "canary", config)
    assert again.success and "nothing to do" in again.message
    assert calls == ["DescribeEndpoint"]


def test_a_canary_update_sends_the_deployment_config_and_checks_the_new_config_serves(aws, registry) -> None:
    sagemaker, s3 = aws
    model, client = registry(2)
    alarms = [f"{model}-5xx", f"{model}-p99-latency"]
    config = model_config(model, "sagemaker", "canary", canary_steps=[10, 50, 100], **OPTIONS,
                          rollback_alarms=alarms, wait_interval=60, termination_wait=120, max_execution_timeout=1800)
    assert target(sagemaker, s3, client).deploy(model, "1", "canary", config).success  # created on moto
    options = SageMakerOptions.parse(model, config.deploy.options)
    old, new = names(model, "1", options), names(model, "2", options)

    stubbed, stub = stubbed_client()
    by_name = {"EndpointName": new.endpoint}
    stub.add_response("describe_endpoint", endpoint(new.endpoint, old.endpoint_config, "InService"), by_name)
    stub.add_response("update_endpoint", {"EndpointArn": endpoint(new.endpoint, "", "")["EndpointArn"]}, {
        "EndpointName": new.endpoint, "EndpointConfigName": new.endpoint_config,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 60,
                                                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}},
                "TerminationWaitInSeconds": 120, "MaximumExecutionTimeoutInSeconds": 1800},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in alarms]}}})
    pending = {"PendingDeploymentSummary": {"EndpointConfigName": new.endpoint_config}}
    stub.add_response("describe_endpoint", endpoint(new.endpoint, old.endpoint_config, "Updating", **pending), by_name)
    stub.add_response("describe_endpoint", endpoint(new.endpoint, old.endpoint_config, "Updating", **pending), by_name)
    stub.add_response("describe_endpoint", endpoint(new.endpoint, new.endpoint_config, "InService"), by_name)
    with stub:
        result = target(Routed(sagemaker, stubbed, ENDPOINT_OPS), s3, client).deploy(model, "2", "canary", config)
    stub.assert_no_pending_responses()

    assert result.success and result.served_version == "2" and result.previous_version == "1", result
    assert any("canary 10% then 100%" in step and "[50] not used" in step for step in result.steps), result.steps
    assert sagemaker.describe_model(ModelName=new.model)["PrimaryContainer"]["ModelDataUrl"] == new.model_data
    variant = sagemaker.describe_endpoint_config(EndpointConfigName=new.endpoint_config)["ProductionVariants"][0]
    assert variant["ModelName"] == new.model
    assert s3.head_object(Bucket=BUCKET, Key=new.key)["ContentLength"] > 0
    assert alias(client, model) == "2"
    assert client.get_registered_model(model).tags["mlops.deploy.sagemaker.previous"] == "1"


def test_an_auto_rollback_by_sagemaker_fails_the_deploy_and_keeps_the_previous_version(aws, registry) -> None:
    sagemaker, s3 = aws
    model, client = registry(2)
    config = model_config(model, "sagemaker", "blue_green", **OPTIONS, rollback_alarms=[f"{model}-5xx"])
    assert target(sagemaker, s3, client).deploy(model, "1", "blue_green", config).success
    options = SageMakerOptions.parse(model, config.deploy.options)
    old, new = names(model, "1", options), names(model, "2", options)
    why = f"Rolled back: CloudWatch alarm {model}-5xx went into ALARM during the deployment"

    stubbed, stub = stubbed_client()
    by_name = {"EndpointName": new.endpoint}
    stub.add_response("describe_endpoint", endpoint(new.endpoint, old.endpoint_config, "InService"), by_name)
    stub.add_response("update_endpoint", {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/x"}, {
        "EndpointName": new.endpoint, "EndpointConfigName": new.endpoint_config,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE",
                                                                      "WaitIntervalInSeconds": 300},
                                      "TerminationWaitInSeconds": 300},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": f"{model}-5xx"}]}}})
    stub.add_response("describe_endpoint", endpoint(new.endpoint, old.endpoint_config, "Updating"), by_name)
    stub.add_response("describe_endpoint", endpoint(new.endpoint, old.endpoint_config, "RollingBack"), by_name)
    stub.add_response("describe_endpoint", endpoint(new.endpoint, old.endpoint_config, "InService",
                                                    FailureReason=why), by_name)
    with stub:
        result = target(Routed(sagemaker, stubbed, ENDPOINT_OPS), s3, client).deploy(model, "2", "blue_green",
                                                                                      config)
    stub.assert_no_pending_responses()

    assert not result.success and result.served_version == "1" and result.previous_version == "1", result
    assert why in result.message and "v1 still serves" in result.message
    assert alias(client, model) == "1"
    assert why in client.get_model_version(model, "2").tags["mlops.deploy.sagemaker.failed"]


def test_a_failed_creation_is_deleted_and_reported(aws, registry) -> None:
    sagemaker, s3 = aws
    model, client = registry(1)
    config = model_config(model, "sagemaker", "rolling", **OPTIONS)
    wanted = names(model, "1", SageMakerOptions.parse(model, config.deploy.options))
    why = "The primary container for production variant AllTraffic did not pass the ping health check."

    stubbed, stub = stubbed_client()
    by_name = {"EndpointName": wanted.endpoint}
    missing = {"service_error_code": "ValidationException", "http_status_code": 400,
               "service_message": f"Could not find endpoint \"{wanted.endpoint}\"."}
    stub.add_client_error("describe_endpoint", expected_params=by_name, **missing)
    stub.add_response("create_endpoint", {"EndpointArn": endpoint(wanted.endpoint, "", "")["EndpointArn"]},
                      {"EndpointName": wanted.endpoint, "EndpointConfigName": wanted.endpoint_config})
    stub.add_response("describe_endpoint", endpoint(wanted.endpoint, wanted.endpoint_config, "Creating"), by_name)
    stub.add_response("describe_endpoint", endpoint(wanted.endpoint, wanted.endpoint_config, "Failed",
                                                    FailureReason=why), by_name)
    stub.add_response("delete_endpoint", {}, by_name)
    stub.add_client_error("describe_endpoint", expected_params=by_name, **missing)
    with stub:
        result = target(Routed(sagemaker, stubbed, ENDPOINT_OPS), s3, client).deploy(model, "1", "rolling", config)
    stub.assert_no_pending_responses()

    assert not result.success and result.served_version is None
    assert why in result.message and "nothing serves" in result.message
    assert alias(client, model) is None
    assert why in client.get_model_version(model, "1").tags["mlops.deploy.sagemaker.failed"]


def test_a_busy_endpoint_or_bad_options_are_refused_before_anything_is_created(aws, registry) -> None:
    sagemaker, s3 = aws
    model, client = registry(2)
    config = model_config(model, "sagemaker", "rolling", **OPTIONS)
    wanted = names(model, "2", SageMakerOptions.parse(model, config.deploy.options))
    stubbed, stub = stubbed_client()
    stub.add_response("describe_endpoint", endpoint(
        wanted.endpoint, "someone-elses-config", "Updating",
        PendingDeploymentSummary={"EndpointConfigName": "another-config"}), {"EndpointName": wanted.endpoint})
    with stub, pytest.raises(DeploymentError, match="is Updating \\(another change is in progress\\)"):
        target(Routed(sagemaker, stubbed, ENDPOINT_OPS), s3, client).deploy(model, "2", "rolling", config)
    stub.assert_no_pending_responses()

    deployer = target(sagemaker, s3, client)
    with pytest.raises(DeploymentError, match="needs deploy.options execution_role_arn, s3_prefix"):
        deployer.deploy(model, "2", "rolling", model_config(model, "sagemaker", image=OPTIONS["image"]))
    with pytest.raises(DeploymentError, match="canary takes at most 50% of the capacity"):
        deployer.deploy(model, "2", "canary", model_config(model, "sagemaker", canary_steps=[60, 100], **OPTIONS))
    with pytest.raises(DeploymentError, match=f"model '{model}' has no version 5"):
        deployer.deploy(model, "5", "rolling", config)
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"] if m["ModelName"].startswith(wanted.model)] \
        == []


def test_deployment_configs_of_every_strategy_are_valid_update_endpoint_requests() -> None:
    options = SageMakerOptions.parse("credit", {**OPTIONS, "rollback_alarms": ["credit-5xx"]})
    shape = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="testing",
                         aws_secret_access_key="testing").meta.service_model.operation_model("UpdateEndpoint").input_shape
    cases = {
        ("rolling", (10, 100)): ("RollingUpdatePolicy", None),
        ("blue_green", (10, 100)): ("BlueGreenUpdatePolicy", "ALL_AT_ONCE"),
        ("canary", (10, 50, 100)): ("BlueGreenUpdatePolicy", "CANARY"),
        ("canary", (25, 50, 75, 100)): ("BlueGreenUpdatePolicy", "LINEAR"),
        ("canary", (50, 100)): ("BlueGreenUpdatePolicy", "CANARY"),
    }
    for (strategy, steps), (policy, routing) in cases.items():
        config, how = deployment_config("credit", strategy, list(steps), options)
        validate_parameters({"EndpointName": "e", "EndpointConfigName": "c", "DeploymentConfig": config}, shape)
        assert set(config) == {policy, "AutoRollbackConfiguration"} and "credit-5xx" in how
        if routing:
            assert config[policy]["TrafficRoutingConfiguration"]["Type"] == routing
    linear, _ = deployment_config("credit", "canary", [25, 50, 75, 100], options)
    assert linear["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["LinearStepSize"] == \
        {"Type": "CAPACITY_PERCENT", "Value": 25}


def test_names_fit_sagemaker_rules() -> None:
    options = SageMakerOptions.parse("m" * 63, OPTIONS)
    long = names("m" * 63, "12", options)
    for name in (long.endpoint, long.model, long.endpoint_config):
        assert len(name) <= 63 and name.replace("-", "").isalnum(), name
    assert version_of_config(long.endpoint_config) == "12"
    assert sagemaker_name("credit_default") == "mlops-credit-default"
    changed = SageMakerOptions.parse("m" * 63, {**OPTIONS, "instance_count": 3})
    assert names("m" * 63, "12", changed).endpoint_config != long.endpoint_config  # a new config per settings
