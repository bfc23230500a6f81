"""`trainer.runner: sagemaker`: the training as a SageMaker training job running `mlops train` in the repository
image; its result is the file `mlops train` writes into the job's model directory, read back from the job's output
archive (`ModelArtifacts.S3ModelArtifacts`).

The MLflow login is never a value of the job: with `trainer.sagemaker.secret_arn` the job reads it from Secrets
Manager with its own role. A retry adopts the job of an earlier try that is in progress or has completed (found by
its name, which starts with the task's key) instead of starting a second one; a job name cannot be reused, so each
try's own job carries the try number.
"""

from __future__ import annotations

import io
import re
import tarfile
import time
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import ConfigError, RunnerError, TrainingError
from mlops_provider.training.remote import RESULT_FILE, RemoteTraining, parse_result

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlops_provider.config import ModelConfig
    from mlops_provider.training.remote.options import SageMakerRunner
    from mlops_provider.xcom import TrainingResult

MODEL_DIR = "/opt/ml/model"  # SageMaker archives it into the job's output
ADOPTABLE = ("InProgress", "Completed")
RUNNING = ("InProgress", "Stopping")
ARGUMENT_MAX = 256  # characters of one ContainerArguments item
# `mlops train`'s exit status for config, data or trainer errors, as SageMaker reports a container's exit
DETERMINISTIC_EXIT = re.compile(r"exit code:?\s*2\b", re.IGNORECASE)


def job_request(options: SageMakerRunner, training: RemoteTraining) -> dict[str, Any]:
    """The `CreateTrainingJob` request of `training`'s try."""
    command = training.command(result_file=f"{MODEL_DIR}/{RESULT_FILE}", secret_arn=options.secret_arn)
    too_long = [argument[:40] for argument in command if len(argument) > ARGUMENT_MAX]
    if too_long:
        raise RunnerError(f"model '{training.model}': a SageMaker container argument holds {ARGUMENT_MAX} "
                          f"characters; too long: {too_long}")
    return {
        "TrainingJobName": training.name,
        "AlgorithmSpecification": {"TrainingImage": options.image_uri, "TrainingInputMode": "File",
                                   "ContainerEntrypoint": command[:1], "ContainerArguments": command[1:]},
        "RoleArn": options.role_arn,
        "OutputDataConfig": {"S3OutputPath": options.output_s3},
        "ResourceConfig": {"InstanceType": options.instance_type, "InstanceCount": options.instance_count,
                           "VolumeSizeInGB": options.volume_gb},
        "StoppingCondition": {"MaxRuntimeInSeconds": options.max_runtime_s},
        "Environment": {"MLFLOW_TRACKING_URI": training.tracking_uri, "PYTHONUNBUFFERED": "1"},
        "Tags": [{"Key": "mlops.model", "Value": training.model}, {"Key": "mlops.dag_id", "Value": training.dag_id},
                 {"Key": "mlops.dag_run_id", "Value": training.run_id[:256]}],
    }


def _clients(options: SageMakerRunner) -> tuple[Any, Any]:
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    hook = SageMakerHook(aws_conn_id=options.conn_id, region_name=options.region)
    return hook.conn, hook.s3_hook.get_conn()


def start_job(config: ModelConfig, options: SageMakerRunner, training: RemoteTraining, *, has_login: bool,
              log: Callable[..., None], sagemaker_client: Any) -> str:
    """Adopt the job of an earlier try that is in progress or has completed, or create this try's; its name.

    :param has_login: the MLflow connection has a login, which the job can only get from `options.secret_arn`.
    """
    require_secret(config, options, has_login)
    name = _adopt(sagemaker_client, training, log)
    if name is None:
        name = training.name
        sagemaker_client.create_training_job(**job_request(options, training))
        log("SageMaker training job %s started (%s x %s)", name, options.instance_count, options.instance_type)
    return name


def require_secret(config: ModelConfig, options: SageMakerRunner, has_login: bool) -> None:
    """The job can get the MLflow connection's login only from `options.secret_arn`: refuse before any call."""
    if has_login and options.secret_arn is None:
        raise ConfigError(f"{config.source}: key 'trainer.sagemaker.secret_arn': the MLflow connection has a "
                          "login; name the Secrets Manager secret ({username, password}) the job reads it from")


def clients(options: SageMakerRunner, sagemaker_client: Any = None, s3_client: Any = None) -> tuple[Any, Any]:
    """The SageMaker and S3 clients given, else those of `SageMakerHook(options.conn_id)`."""
    if sagemaker_client is None or s3_client is None:
        hook_sagemaker, hook_s3 = _clients(options)
        sagemaker_client, s3_client = sagemaker_client or hook_sagemaker, s3_client or hook_s3
    return sagemaker_client, s3_client


def run_job(config: ModelConfig, options: SageMakerRunner, training: RemoteTraining, *, has_login: bool,
            log: Callable[..., None], sagemaker_client: Any = None, s3_client: Any = None,
            poll_interval: float = 30.0) -> TrainingResult:
    """Run (or adopt) the training job of `training`, waiting here, and return the TrainingResult it wrote.

    :param sagemaker_client: a boto3 SageMaker client; default: `SageMakerHook(options.conn_id)`'s (so is S3's).
    :param s3_client: a boto3 S3 client that reads the job's output.
    :param poll_interval: seconds between two `DescribeTrainingJob` calls.
    """
    require_secret(config, options, has_login)
    sagemaker_client, s3_client = clients(options, sagemaker_client, s3_client)
    name = start_job(config, options, training, has_login=has_login, log=log, sagemaker_client=sagemaker_client)
    return finish_job(config, s3_client, _wait(sagemaker_client, name, poll_interval, log))


def finish_job(config: ModelConfig, s3_client: Any, job: dict[str, Any]) -> TrainingResult:
    """The result of a job that has ended, read from its output archive, or the error of its failure."""
    where = f"model '{config.name}': SageMaker training job {job['TrainingJobName']}"
    status = job["TrainingJobStatus"]
    if status != "Completed":
        reason = job.get("FailureReason") or f"status {status}"
        message = f"{where} ended {status}: {reason}"
        raise TrainingError(message) if DETERMINISTIC_EXIT.search(reason) else RunnerError(message)
    return parse_result(_result_file(s3_client, job["ModelArtifacts"]["S3ModelArtifacts"], where), where=where)


def _adopt(client: Any, training: RemoteTraining, log: Callable[..., None]) -> str | None:
    """The newest job of an earlier try of this task that is in progress or completed, else None."""
    found = client.list_training_jobs(NameContains=training.key, SortBy="CreationTime", SortOrder="Descending",
                                      MaxResults=20)["TrainingJobSummaries"]
    for job in found:
        if job["TrainingJobName"].startswith(f"{training.key}-t") and job["TrainingJobStatus"] in ADOPTABLE:
            log("Adopting SageMaker training job %s of an earlier try (%s)", job["TrainingJobName"],
                job["TrainingJobStatus"])
            return str(job["TrainingJobName"])
    return None


def _wait(client: Any, name: str, poll_interval: float, log: Callable[..., None]) -> dict[str, Any]:
    last = None
    while True:
        job: dict[str, Any] = client.describe_training_job(TrainingJobName=name)
        status = (job["TrainingJobStatus"], job.get("SecondaryStatus"))
        if status != last:
            log("SageMaker training job %s: %s (%s)", name, *status)
            last = status
        if job["TrainingJobStatus"] not in RUNNING:
            return job
        time.sleep(poll_interval)


def _result_file(s3: Any, uri: str, where: str) -> str:
    """The training result inside the job's output archive `uri` (s3://bucket/key/model.tar.gz)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        member = next((m for m in archive.getmembers() if m.name.lstrip("./") == RESULT_FILE), None)
        extracted = archive.extractfile(member) if member is not None else None
        if extracted is None:
            raise RunnerError(f"{where} completed but its output {uri} holds no {RESULT_FILE} (it holds "
                              f"{[m.name for m in archive.getmembers()][:10]})")
        return extracted.read().decode()
