"""Training off the worker: the same `train_and_log` run by `mlops train` in a pod or a SageMaker job.

What both runners share lives here: the job's deterministic name (so a retry adopts the pod or job of an earlier
try instead of starting another), the command the pod or job runs, and the result line that `mlops train` prints
and the runner reads back. `kubernetes` and `sagemaker` hold the runners; the operator calls `train_remotely`
(waiting in the task), or `begin_remotely` and, once the trigger fired, `finish_remotely` (waiting in the
triggerer).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import RunnerError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlops_provider.config import ModelConfig
    from mlops_provider.xcom import TrainingResult

# `mlops train` prints the TrainingResult as one line behind this marker, last; the runner reads it from the pod's log
RESULT_MARKER = "MLOPS_TRAINING_RESULT "
RESULT_FILE = "training_result.json"  # in the SageMaker job's model directory, hence in its output archive
RESULT_KEYS = ("model", "run_id", "experiment_id", "model_uri", "model_id", "metrics", "data_digest", "data_uri",
               "reused", "validation")
LOG_TAIL = 30  # lines of a failed pod's log quoted in the error
POLL_SECONDS = {"kubernetes": 10.0, "sagemaker": 60.0}  # the triggers' interval between two looks
# what `train_and_log` reads of the data gate's summary: only these travel to the pod or job (a SageMaker argument
# holds 256 characters)
VALIDATION_KEYS = ("data_digest", "data_time", "evaluated", "failed", "run_id")


@dataclass(frozen=True)
class RemoteTraining:
    """One training of a DAG run's task, whatever runs it.

    :param model: the configured model.
    :param dag_id: the DAG of the training task.
    :param run_id: the DAG run; the MLflow run is found by it (`mlops.dag_run_id`), as for a local training.
    :param try_number: the task's try; a new pod or job of a retry is named after it.
    :param reason: why it is trained, recorded on the MLflow run.
    :param validation: the data gate's summary, checked against the data trained on.
    :param tracking_uri: the MLflow server (without credentials, which go as a secret reference).
    """

    model: str
    dag_id: str
    run_id: str
    try_number: int
    reason: str
    validation: dict[str, Any] | None
    tracking_uri: str

    @property
    def key(self) -> str:
        """The same for every try of this task in this DAG run: what a retry looks its pod or job up by."""
        digest = hashlib.sha256(f"{self.dag_id}\n{self.run_id}\n{self.model}".encode()).hexdigest()[:12]
        return f"train-{re.sub(r'[^a-z0-9]+', '-', self.model)[:24].strip('-')}-{digest}"

    @property
    def name(self) -> str:
        """The pod or job of this try (63 characters at most: a Kubernetes name, a SageMaker job name)."""
        return f"{self.key}-t{self.try_number}"

    def command(self, *, result_file: str | None = None, secret_arn: str | None = None) -> list[str]:
        """`mlops train ...` as the pod or job runs it; no credentials, only where to find them."""
        command = ["mlops", "train", self.model, "--dag-run-id", self.run_id, "--reason", self.reason]
        if self.validation:
            kept = {key: self.validation[key] for key in VALIDATION_KEYS if key in self.validation}
            command += ["--validation", json.dumps(kept, sort_keys=True, separators=(",", ":"))]
        if result_file:
            command += ["--result-file", result_file]
        if secret_arn:
            command += ["--mlflow-secret-arn", secret_arn]
        return command


def result_line(result: TrainingResult) -> str:
    """The line `mlops train` prints last."""
    return RESULT_MARKER + json.dumps(result, sort_keys=True)


def parse_result(text: str, *, where: str) -> TrainingResult:
    """The TrainingResult of the last result line in `text` (a log, or the result file's JSON); `where` names the
    pod or job in the error."""
    lines = [line for line in text.splitlines() if line.startswith(RESULT_MARKER)]
    payload = lines[-1][len(RESULT_MARKER):] if lines else text
    try:
        result = json.loads(payload)
    except ValueError:
        raise RunnerError(f"{where} finished but printed no training result ('{RESULT_MARKER.strip()}' line); "
                          f"its output ends: {_tail(text, 5)}") from None
    missing = [key for key in RESULT_KEYS if not isinstance(result, dict) or key not in result]
    if missing:
        raise RunnerError(f"{where}: the training result lacks {missing}")
    return result


def _tail(text: str, lines: int = LOG_TAIL) -> str:
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(kept) if kept else "(no output)"


def train_remotely(config: ModelConfig, training: RemoteTraining, *, has_login: bool,
                   log: Callable[..., None]) -> TrainingResult:
    """Run `training` where `config.trainer.runner` says and return its TrainingResult, as a local training would.

    :param has_login: the MLflow connection has a login: the runner's secret must then be configured.
    :param log: where progress goes (the task's `log.info`).
    """
    runner = config.trainer.runner
    if runner == "kubernetes" and config.trainer.kubernetes is not None:
        from mlops_provider.training.remote.kubernetes import run_pod

        return run_pod(config, config.trainer.kubernetes, training, has_login=has_login, log=log)
    if runner == "sagemaker" and config.trainer.sagemaker is not None:
        from mlops_provider.training.remote.sagemaker import run_job

        return run_job(config, config.trainer.sagemaker, training, has_login=has_login, log=log)
    raise RunnerError(f"{config.source}: key 'trainer.runner': '{runner}' does not run remotely")


def begin_remotely(config: ModelConfig, training: RemoteTraining, *, has_login: bool, log: Callable[..., None],
                   poll_interval: float | None = None) -> Any:
    """Start (or adopt) the pod or job of `training` and return the trigger that waits for its end."""
    runner = config.trainer.runner
    interval = poll_interval or POLL_SECONDS.get(runner, 30.0)
    if runner == "kubernetes" and config.trainer.kubernetes is not None:
        from mlops_provider.training.remote.kubernetes import start_pod
        from mlops_provider.triggers.kubernetes import TrainingPodTrigger

        options = config.trainer.kubernetes
        pods, name = start_pod(config, options, training, has_login=has_login, log=log)
        deadline = datetime.now(UTC) + timedelta(seconds=options.startup_timeout_s)
        return TrainingPodTrigger(pod=name, namespace=pods.namespace, deadline=deadline.isoformat(),
                                  poll_interval=interval, kubernetes_conn_id=options.conn_id)
    if runner == "sagemaker" and config.trainer.sagemaker is not None:
        from mlops_provider.training.remote.sagemaker import clients, require_secret, start_job
        from mlops_provider.triggers.sagemaker import TrainingJobTrigger

        job_options = config.trainer.sagemaker
        require_secret(config, job_options, has_login)
        client, _ = clients(job_options)
        name = start_job(config, job_options, training, has_login=has_login, log=log, sagemaker_client=client)
        return TrainingJobTrigger(job=name, poll_interval=interval, aws_conn_id=job_options.conn_id,
                                  region_name=job_options.region)
    raise RunnerError(f"{config.source}: key 'trainer.runner': '{runner}' does not run remotely")


def finish_remotely(config: ModelConfig, event: dict[str, Any]) -> TrainingResult:
    """The TrainingResult of the pod or job whose trigger fired `event`, or the error of its failure."""
    if event.get("status") == "error":
        raise RunnerError(f"model '{config.name}': {event.get('message')}")
    if config.trainer.runner == "kubernetes" and config.trainer.kubernetes is not None:
        from mlops_provider.training.remote.kubernetes import connect, finish_pod, not_started

        options = config.trainer.kubernetes
        pods = connect(options, namespace=event["namespace"])
        if event["status"] == "not_started":
            raise not_started(pods, event["pod"], options.startup_timeout_s, str(event.get("message") or ""))
        return finish_pod(config, pods, pods.read(event["pod"]))
    if config.trainer.runner == "sagemaker" and config.trainer.sagemaker is not None:
        from mlops_provider.training.remote.sagemaker import clients, finish_job

        client, s3 = clients(config.trainer.sagemaker)
        return finish_job(config, s3, client.describe_training_job(TrainingJobName=event["job"]))
    raise RunnerError(f"{config.source}: key 'trainer.runner' is '{config.trainer.runner}' now, but this task "
                      f"started a remote training ({event}); run the DAG again")
