"""TrainModelOperator with `deferrable=True`: the task starts the pod or job and defers; the real trigger waits on
the fake Kubernetes API server (through the provider's async hook) or on moto's SageMaker (which completes a job at
once); the resumed task reads the result back, or fails naming why the pod did not start."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from typing import Any

import boto3
import pytest
from airflow.sdk.exceptions import TaskDeferred

from mlops_provider.exceptions import RunnerError
from mlops_provider.operators.training import TrainModelOperator
from mlops_provider.training.remote import RESULT_FILE, RESULT_MARKER, RemoteTraining
from tests.helpers.fake_k8s import FakeKubernetes
from tests.helpers.fake_pods import PodOutcome
from tests.helpers.moto_stand_in import REGION, aws_connection, moto_server
from tests.helpers.remote_training import SAMPLE, TaskInstance, configure_trainer

RUN_ID = "manual__2026-03-01"
BUCKET = "mlops-training"


def deferred(operator: TrainModelOperator, ti: TaskInstance) -> Any:
    """The trigger the task deferred on, rebuilt from its serialized form (as the triggerer does), polling fast."""
    with pytest.raises(TaskDeferred) as caught:
        operator.execute({"ti": ti, "run_id": RUN_ID})
    assert caught.value.method_name == "execute_complete"
    classpath, kwargs = caught.value.trigger.serialize()
    module, _, name = classpath.rpartition(".")
    return getattr(__import__(module, fromlist=[name]), name)(**{**kwargs, "poll_interval": 0.05})


def fired(trigger: Any) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger fired no event")

    return asyncio.run(asyncio.wait_for(first(), timeout=60))


def pod_trainer(**runner: Any) -> dict[str, Any]:
    return {"runner": "kubernetes", "kubernetes": {"image": "registry.example/mlops:1.4",
                                                   "conn_id": "training_cluster", **runner}}


def test_the_pod_is_awaited_in_the_triggerer_and_its_result_read_on_resume(
        toy_model: str, fake: FakeKubernetes, monkeypatch: pytest.MonkeyPatch) -> None:
    configure_trainer(toy_model, monkeypatch, pod_trainer())
    fake.created_pods.script = lambda pod: PodOutcome(0, RESULT_MARKER + json.dumps(SAMPLE))
    operator, ti = TrainModelOperator(task_id="train", model=toy_model, deferrable=True), TaskInstance()

    trigger = deferred(operator, ti)
    [pod] = fake.created_pods.created
    assert (trigger.pod, trigger.namespace) == (pod["metadata"]["name"], "ml-jobs")
    event = fired(trigger)
    assert event["status"] == "ended"

    resumed = TrainModelOperator(task_id="train", model=toy_model, deferrable=True)  # a fresh worker's
    assert resumed.execute_complete({"ti": ti, "run_id": RUN_ID}, event) == SAMPLE
    assert ti.pushed["mlflow_run_url"].endswith("/#/experiments/7/runs/0123abcd")
    assert fake.created_pods.get("ml-jobs", trigger.pod) is None


def test_a_pod_that_does_not_start_fails_the_resumed_task_and_is_deleted(
        toy_model: str, fake: FakeKubernetes, monkeypatch: pytest.MonkeyPatch) -> None:
    configure_trainer(toy_model, monkeypatch, pod_trainer(image="registry.example/broken:1", startup_timeout_s=0.3))
    operator, ti = TrainModelOperator(task_id="train", model=toy_model, deferrable=True), TaskInstance()

    event = fired(deferred(operator, ti))
    assert event["status"] == "not_started" and "ImagePullBackOff" in event["message"]
    with pytest.raises(RunnerError, match=r"still Pending after 0.3s \(ImagePullBackOff"):
        operator.execute_complete({"ti": ti, "run_id": RUN_ID}, event)
    assert fake.created_pods.pods == {}


def test_a_trigger_that_lost_its_pod_fails_the_task_for_a_retry(
        toy_model: str, fake: FakeKubernetes, monkeypatch: pytest.MonkeyPatch) -> None:
    configure_trainer(toy_model, monkeypatch, pod_trainer())
    fake.created_pods.script = lambda pod: PodOutcome(0, "")
    operator, ti = TrainModelOperator(task_id="train", model=toy_model, deferrable=True), TaskInstance()
    trigger = deferred(operator, ti)
    fake.created_pods.delete("ml-jobs", trigger.pod)  # someone deleted it meanwhile

    event = fired(trigger)
    assert event["status"] == "error" and "HTTP 404" in event["message"]
    with pytest.raises(RunnerError, match=f"model 'toy': could not follow training pod ml-jobs/{trigger.pod}"):
        operator.execute_complete({"ti": ti, "run_id": RUN_ID}, event)


def test_the_job_is_awaited_in_the_triggerer_and_its_output_read_on_resume(
        toy_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with moto_server() as url:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_TRAINING", aws_connection(url))
        configure_trainer(toy_model, monkeypatch, {"runner": "sagemaker", "sagemaker": {
            "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops:1.4", "region": REGION,
            "role_arn": "arn:aws:iam::123456789012:role/mlops-training", "output_s3": f"s3://{BUCKET}/jobs",
            "conn_id": "aws_training"}})
        ti = TaskInstance()
        name = RemoteTraining(model="toy", dag_id=ti.dag_id, run_id=RUN_ID, try_number=1, reason="schedule",
                              validation=None, tracking_uri="").name
        s3 = boto3.client("s3", endpoint_url=url, region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w:gz") as tar:
            data = json.dumps(SAMPLE).encode()
            info = tarfile.TarInfo(RESULT_FILE)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        s3.put_object(Bucket=BUCKET, Key=f"jobs/{name}/output/model.tar.gz", Body=archive.getvalue())
        operator = TrainModelOperator(task_id="train", model=toy_model, deferrable=True)

        trigger = deferred(operator, ti)
        assert trigger.job == name
        event = fired(trigger)
        assert event == {"status": "ended", "job": name, "message": f"training job {name}: Completed"}
        assert operator.execute_complete({"ti": ti, "run_id": RUN_ID}, event) == SAMPLE
        sagemaker = boto3.client("sagemaker", endpoint_url=url, region_name=REGION)
        job = sagemaker.describe_training_job(TrainingJobName=name)
        assert job["AlgorithmSpecification"]["TrainingImage"].endswith("/mlops:1.4")
