"""Waits in the triggerer on SageMaker: `SageMakerEndpointTrigger` until an endpoint leaves its busy states,
`TrainingJobTrigger` until a training job has ended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class SageMakerEndpointTrigger(BaseTrigger):
    """Describes `endpoint` every `poll_interval` seconds until it is no longer `Creating`, `Updating`,
    `SystemUpdating`, `RollingBack` or `Deleting`, or `deadline` (ISO time) passes.

    Unlike the amazon provider's `SageMakerTrigger` (boto's `endpoint_in_service` waiter), it treats every settled
    state alike: an endpoint back `InService` after SageMaker rolled an update back is as settled as a `Failed` or
    `UpdateRollbackFailed` one, and which of them it is, is for `SageMakerTarget.resume` to decide. The event
    carries the last status, endpoint config and failure reason. The boto3 calls run in a thread (the amazon
    provider's async client needs `aiobotocore`, which its default install lacks)."""

    def __init__(self, *, endpoint: str, deadline: str, poll_interval: float = 30.0,
                 aws_conn_id: str | None = "aws_default", region_name: str | None = None) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("mlops_provider.triggers.sagemaker.SageMakerEndpointTrigger", {
            "endpoint": self.endpoint, "deadline": self.deadline, "poll_interval": self.poll_interval,
            "aws_conn_id": self.aws_conn_id, "region_name": self.region_name,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from mlops_provider.deploy.sagemaker import BUSY, describe_endpoint

        deadline = datetime.fromisoformat(self.deadline)
        try:
            client = await asyncio.to_thread(sagemaker_client, self.aws_conn_id, self.region_name)
            while True:
                found = await asyncio.to_thread(describe_endpoint, client, self.endpoint)
                if found is None:
                    yield TriggerEvent({"status": "error", "endpoint": self.endpoint,
                                        "message": f"endpoint {self.endpoint} does not exist"})
                    return
                status = found["EndpointStatus"]
                if status not in BUSY:
                    yield TriggerEvent({**summary(found), "status": "success",
                                        "message": f"endpoint {self.endpoint} is {status}"})
                    return
                if datetime.now(UTC) >= deadline:
                    yield TriggerEvent({**summary(found), "status": "timeout",
                                        "message": f"endpoint {self.endpoint} is still {status} at the deadline "
                                                   f"{self.deadline}"})
                    return
                self.log.info("Endpoint %s is %s; next look in %ss", self.endpoint, status, self.poll_interval)
                await asyncio.sleep(self.poll_interval)
        except Exception as err:  # noqa: BLE001 - any failure becomes an error event the task reports
            yield TriggerEvent({"status": "error", "endpoint": self.endpoint,
                                "message": f"endpoint {self.endpoint}: {type(err).__name__}: {err}"})


class TrainingJobTrigger(BaseTrigger):
    """Describes the training job `job` every `poll_interval` seconds until it is neither `InProgress` nor
    `Stopping` (its own `max_runtime_s` bounds the wait). Fires one event `{"status": "ended" | "error", "job",
    "message"}`; the task reads the result or the failure (`training.remote.sagemaker.finish_job`) when it resumes.
    The boto3 calls run in a thread, as `SageMakerEndpointTrigger`'s."""

    def __init__(self, *, job: str, poll_interval: float = 60.0, aws_conn_id: str | None = "aws_default",
                 region_name: str | None = None) -> None:
        super().__init__()
        self.job = job
        self.poll_interval = poll_interval
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("mlops_provider.triggers.sagemaker.TrainingJobTrigger", {
            "job": self.job, "poll_interval": self.poll_interval, "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from mlops_provider.training.remote.sagemaker import RUNNING

        try:
            client = await asyncio.to_thread(sagemaker_client, self.aws_conn_id, self.region_name)
            while True:
                found = await asyncio.to_thread(client.describe_training_job, TrainingJobName=self.job)
                status = found["TrainingJobStatus"]
                if status not in RUNNING:
                    yield TriggerEvent({"status": "ended", "job": self.job,
                                        "message": f"training job {self.job}: {status}"})
                    return
                self.log.info("Training job %s is %s (%s); next look in %ss", self.job, status,
                              found.get("SecondaryStatus"), self.poll_interval)
                await asyncio.sleep(self.poll_interval)
        except Exception as err:  # noqa: BLE001 - any failure becomes an error event the task reports
            yield TriggerEvent({"status": "error", "job": self.job,
                                "message": f"training job {self.job}: {type(err).__name__}: {err}"})


def sagemaker_client(aws_conn_id: str | None, region_name: str | None) -> Any:
    """A boto3 SageMaker client of the amazon provider's `SageMakerHook` (the connection's credentials, region
    and endpoint URL)."""
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    return SageMakerHook(aws_conn_id=aws_conn_id, region_name=region_name).conn


def summary(found: dict[str, Any]) -> dict[str, Any]:
    """The JSON-able part of a `DescribeEndpoint` response that says how the endpoint settled."""
    return {"endpoint": found.get("EndpointName"), "endpoint_status": found.get("EndpointStatus"),
            "endpoint_config": found.get("EndpointConfigName"), "failure_reason": found.get("FailureReason")}
