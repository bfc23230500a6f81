"""`trainer.runner: sagemaker` with botocore's Stubber for the training-job calls and moto's S3 for the job's
output: a job that completes (its result read from its output archive), one that fails (its FailureReason in the
error), a retry that adopts the completed job of an earlier try; and `mlops train`'s login from Secrets Manager."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mlops_provider.config import ModelConfig, parse_model_config
from mlops_provider.exceptions import ConfigError, RunnerError, TrainingError
from mlops_provider.training.remote import RESULT_FILE, RemoteTraining
from mlops_provider.training.remote.sagemaker import job_request, run_job
from tests.helpers.moto_stand_in import REGION, moto_server

BUCKET = "mlops-training"
RUNNER = {"image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops:1.4",
          "role_arn": "arn:aws:iam::123456789012:role/mlops-training", "output_s3": f"s3://{BUCKET}/jobs",
          "instance_type": "ml.m5.xlarge", "instance_count": 1, "volume_gb": 50, "max_runtime_s": 7200,
          "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:mlflow-login-AbCdEf"}
SAMPLE = {"model": "toy", "run_id": "r1", "experiment_id": "1", "model_uri": "models:/m-1", "model_id": "m-1",
          "metrics": {"holdout_roc_auc": 0.8}, "data_digest": "d", "data_uri": "s3://data/t", "reused": False,
          "validation": "passed 3/3 (run v1)"}
NOW = datetime(2026, 3, 1, tzinfo=UTC)
TRAINING = RemoteTraining(model="toy", dag_id="mlops_training", run_id="scheduled__2026-03-01T00:00:00+00:00",
                          try_number=1, reason="schedule", tracking_uri="https://mlflow.example",
                          validation={"data_digest": "a" * 64, "data_time": "2026-03-01T00:00:00+00:00",
                                      "evaluated": 44, "failed": 0, "run_id": "f" * 32, "summary": "x" * 500})


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def s3(moto_url: str) -> Any:
    client = boto3.client("s3", endpoint_url=moto_url, region_name=REGION)
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def sagemaker() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def remote(config: ModelConfig, **runner: Any) -> ModelConfig:
    trainer = {**config.trainer.model_dump(exclude={"kubernetes", "sagemaker"}), "runner": "sagemaker",
               "sagemaker": {**RUNNER, **runner}}
    return parse_model_config({**config.model_dump(), "trainer": trainer}, config.source)


def run(config: ModelConfig, sagemaker: Any, s3: Any, training: RemoteTraining = TRAINING, **kwargs: Any) -> Any:
    assert config.trainer.sagemaker is not None
    return run_job(config, config.trainer.sagemaker, training, has_login=kwargs.pop("has_login", True),
                   log=lambda *a: None, sagemaker_client=sagemaker, s3_client=s3, poll_interval=0, **kwargs)


def job(name: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"TrainingJobName": name, "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{name}",
            "ModelArtifacts": {"S3ModelArtifacts": f"s3://{BUCKET}/jobs/{name}/output/model.tar.gz"},
            "TrainingJobStatus": status, "SecondaryStatus": {"InProgress": "Training"}.get(status, status),
            "StoppingCondition": {"MaxRuntimeInSeconds": 7200}, "CreationTime": NOW, **extra}


def summary(name: str, status: str) -> dict[str, Any]:
    return {"TrainingJobName": name, "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{name}",
            "CreationTime": NOW, "TrainingJobStatus": status}


def listed(stubber: Stubber, *jobs: dict[str, Any]) -> None:
    stubber.add_response("list_training_jobs", {"TrainingJobSummaries": list(jobs)},
                         {"NameContains": TRAINING.key, "SortBy": "CreationTime", "SortOrder": "Descending",
                          "MaxResults": 20})


def put_output(s3: Any, name: str, files: dict[str, str]) -> None:
    """The archive SageMaker makes of the job's /opt/ml/model."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    s3.put_object(Bucket=BUCKET, Key=f"jobs/{name}/output/model.tar.gz", Body=buffer.getvalue())


def test_the_job_request_carries_the_config_and_no_login(toy_config: ModelConfig) -> None:
    config = remote(toy_config)
    assert config.trainer.sagemaker is not None
    request = job_request(config.trainer.sagemaker, TRAINING)
    spec = request["AlgorithmSpecification"]

    assert request["TrainingJobName"] == TRAINING.name and len(TRAINING.name) <= 63
    assert spec["ContainerEntrypoint"] == ["mlops"] and spec["ContainerArguments"][:2] == ["train", "toy"]
    arguments = spec["ContainerArguments"]
    assert arguments[arguments.index("--result-file") + 1] == f"/opt/ml/model/{RESULT_FILE}"
    assert arguments[arguments.index("--mlflow-secret-arn") + 1] == RUNNER["secret_arn"]
    validation = json.loads(arguments[arguments.index("--validation") + 1])
    assert "summary" not in validation and validation["data_digest"] == "a" * 64  # only what training reads
    assert all(len(argument) <= 256 for argument in arguments)
    assert request["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    assert request["RoleArn"] == RUNNER["role_arn"] and request["OutputDataConfig"] == {
        "S3OutputPath": f"s3://{BUCKET}/jobs"}
    assert request["Environment"] == {"MLFLOW_TRACKING_URI": "https://mlflow.example", "PYTHONUNBUFFERED": "1"}


def test_a_login_without_a_secret_is_refused_before_any_job(toy_config: ModelConfig,
                                                           sagemaker: tuple[Any, Stubber]) -> None:
    with pytest.raises(ConfigError, match="key 'trainer.sagemaker.secret_arn': the MLflow connection has a login"):
        run(remote(toy_config, secret_arn=None), sagemaker[0], None)


def test_a_job_that_completes_returns_the_result_of_its_output(toy_config: ModelConfig, s3: Any,
                                                               sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    config = remote(toy_config)
    assert config.trainer.sagemaker is not None
    listed(stubber, summary("train-other-0123456789ab-t1", "Completed"))  # another task's job: not adopted
    stubber.add_response("create_training_job", {"TrainingJobArn": "arn"},
                         job_request(config.trainer.sagemaker, TRAINING))
    stubber.add_response("describe_training_job", job(TRAINING.name, "InProgress"), {"TrainingJobName": TRAINING.name})
    stubber.add_response("describe_training_job", job(TRAINING.name, "Completed"), {"TrainingJobName": TRAINING.name})
    put_output(s3, TRAINING.name, {"model.skops": "weights", RESULT_FILE: json.dumps(SAMPLE)})

    assert run(config, client, s3) == SAMPLE


@pytest.mark.parametrize(("reason", "error"), [
    ("AlgorithmError: MemoryError: Unable to allocate 12.0 GiB, exit code: 1", RunnerError),  # a retry may pass
    ("AlgorithmError: error: model 'toy': trainer raised ValueError, exit code: 2", TrainingError),  # no retry
])
def test_a_job_that_fails_names_its_failure_reason(toy_config: ModelConfig, s3: Any, sagemaker: tuple[Any, Stubber],
                                                   reason: str, error: type[Exception]) -> None:
    client, stubber = sagemaker
    listed(stubber)
    stubber.add_response("create_training_job", {"TrainingJobArn": "arn"})
    stubber.add_response("describe_training_job", job(TRAINING.name, "Failed", FailureReason=reason))

    with pytest.raises(error) as failed:
        run(remote(toy_config), client, s3)
    assert type(failed.value) is error
    assert str(failed.value) == f"model 'toy': SageMaker training job {TRAINING.name} ended Failed: {reason}"


def test_a_retry_adopts_the_completed_job_of_an_earlier_try(toy_config: ModelConfig, s3: Any,
                                                            sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    retry = RemoteTraining(**{**TRAINING.__dict__, "try_number": 3})
    failed, done = f"{TRAINING.key}-t2", TRAINING.name
    listed(stubber, summary(failed, "Failed"), summary(done, "Completed"))
    stubber.add_response("describe_training_job", job(done, "Completed"), {"TrainingJobName": done})
    put_output(s3, done, {f"./{RESULT_FILE}": json.dumps(SAMPLE)})

    assert run(remote(toy_config), client, s3, retry) == SAMPLE  # no create_training_job stubbed: none is made


def test_a_completed_job_without_a_result_is_an_error(toy_config: ModelConfig, s3: Any,
                                                      sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    listed(stubber)
    stubber.add_response("create_training_job", {"TrainingJobArn": "arn"})
    stubber.add_response("describe_training_job", job(TRAINING.name, "Completed"))
    put_output(s3, TRAINING.name, {"model.skops": "weights"})

    with pytest.raises(RunnerError, match=f"output s3://{BUCKET}/jobs/{TRAINING.name}/output/model.tar.gz holds no"):
        run(remote(toy_config), client, s3)


def test_mlops_train_takes_the_login_from_secrets_manager(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_provider.mlflow_auth import auth_header
    from mlops_provider.training.cli import secret_login

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(Name="mlflow-login-test", SecretString=json.dumps(
        {"username": "trainer", "password": "pw"}))["ARN"]
    bad = secrets.create_secret(Name="mlflow-login-bad", SecretString="trainer:pw")["ARN"]

    secret_login(arn, "https://mlflow.secret.example")
    assert auth_header("https://mlflow.secret.example/api") == {"Authorization": "Basic dHJhaW5lcjpwdw=="}
    assert auth_header("https://other.example") == {}
    with pytest.raises(ConfigError, match="expected a JSON object with `username` and `password`"):
        secret_login(bad, "https://mlflow.secret.example")
