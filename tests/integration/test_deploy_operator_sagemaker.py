"""DeployModelOperator(deferrable=True) on the SageMaker target in a real `dag.test()`: the model is packaged to S3
and its endpoint created on moto's server, the endpoint wait runs as `SageMakerEndpointTrigger` (dag.test runs
triggers in-process, the way the triggerer would), and the task resumes, decides and records `serving_sagemaker`
in the real MLflow test server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pendulum
import pytest
import yaml

from tests.helpers.dag_db import write_to_db
from tests.helpers.deploy_registry import register_versions
from tests.helpers.moto_stand_in import aws_connection, moto_server

BUCKET = "mlops-models"
OPTIONS = {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlflow-pyfunc:3.1",
           "execution_role_arn": "arn:aws:iam::123456789012:role/mlops-sagemaker",
           "s3_prefix": f"s3://{BUCKET}/deploy", "instance_count": 1, "timeout": 60}


@pytest.fixture
def moto_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's server, with `aws_default` pointing at it the way a deployment configures the connection."""
    with moto_server() as url:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(url))
        boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield url


@pytest.fixture
def sagemaker_model(mlflow_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    """A registered model with one READY version (an MLmodel and a model.pkl to package) and its config in a
    models folder of its own, deployed to `sagemaker` with the rolling strategy."""
    name, client = register_versions(mlflow_conn, "sm_dag", 1)
    (tmp_path / "models").mkdir()
    (tmp_path / "train.parquet").write_bytes(b"")  # the config's data must exist; deploying never reads it
    config = {"name": name, "target": "label", "features": {"numeric": ["x"]}, "data": {"train": "train.parquet"},
              "gate": {"minimum": 0.5}, "deploy": {"target": "sagemaker", "strategy": "rolling", "options": OPTIONS}}
    (tmp_path / "models" / f"{name}.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path))
    return name, client


@pytest.fixture
def fired_triggers(monkeypatch: pytest.MonkeyPatch,
                   deferrals: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every trigger dag.test() runs, with its event. `deferrals` puts back the kwargs of `defer()` that Airflow
    3.3.2's dag.test() drops when the task resumes (the deployment's state), so the event goes through unchanged."""
    import airflow.sdk.definitions.dag as sdk_dag

    real = sdk_dag._run_inline_trigger
    fired: list[tuple[str, dict[str, Any]]] = []

    def run_inline(trigger: Any, ti: Any) -> Any:
        event = real(trigger, ti)
        fired.append((trigger.serialize()[0], dict(event.payload)))
        return event

    monkeypatch.setattr(sdk_dag, "_run_inline_trigger", run_inline)
    return fired


def test_a_deferrable_deploy_creates_the_endpoint_waits_in_the_trigger_and_records_it(
        airflow_db: Path, moto_url: str, sagemaker_model: tuple[str, Any],
        fired_triggers: list[tuple[str, dict[str, Any]]], deferrals: list[dict[str, Any]]) -> None:
    from airflow.sdk import DAG

    from mlops_provider.deploy.sagemaker import SageMakerOptions, names
    from mlops_provider.operators.deployment import DeployModelOperator

    model, client = sagemaker_model
    with DAG(f"test_deploy_sagemaker_{model}", schedule=None,
             start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        DeployModelOperator(task_id="deploy", model=model, version="1", deferrable=True,
                            target_kwargs={"poll_interval": 0.05})
    write_to_db(dag)
    dag_run = dag.test()

    wanted = names(model, "1", SageMakerOptions.parse(model, OPTIONS))
    assert [classpath for classpath, _ in fired_triggers] == \
        ["mlops_provider.triggers.sagemaker.SageMakerEndpointTrigger"]  # the task deferred once
    assert [deferral["method"] for deferral in deferrals] == ["execute_complete"]
    event = fired_triggers[0][1]
    assert (event["status"], event["endpoint"], event["endpoint_status"], event["endpoint_config"]) == \
        ("success", wanted.endpoint, "InService", wanted.endpoint_config)
    ti = dag_run.get_task_instance("deploy")
    assert (dag_run.state, ti.state) == ("success", "success"), ti
    assert str(client.get_model_version_by_alias(model, "serving_sagemaker").version) == "1"

    sagemaker = boto3.client("sagemaker", endpoint_url=moto_url, region_name="us-east-1",
                             aws_access_key_id="testing", aws_secret_access_key="testing")
    live = sagemaker.describe_endpoint(EndpointName=wanted.endpoint)
    assert (live["EndpointStatus"], live["EndpointConfigName"]) == ("InService", wanted.endpoint_config)
    assert sagemaker.describe_model(ModelName=wanted.model)["PrimaryContainer"]["ModelDataUrl"] == \
        wanted.model_data
