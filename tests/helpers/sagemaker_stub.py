"""The SageMaker target's test kit: options, a Stubber-backed client for the calls moto lacks, endpoint replies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.stub import Stubber

from mlops_provider.deploy.sagemaker import SageMakerTarget

BUCKET = "mlops-models"
OPTIONS = {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlflow-pyfunc:3.1",
           "execution_role_arn": "arn:aws:iam::123456789012:role/mlops-sagemaker",
           "s3_prefix": f"s3://{BUCKET}/deploy", "instance_type": "ml.m5.large", "instance_count": 2, "timeout": 10}
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ENDPOINT_OPS = {"describe_endpoint", "update_endpoint", "create_endpoint", "delete_endpoint"}


class Routed:
    """A SageMaker client that sends `operations` to a Stubber-backed client and everything else to moto."""

    def __init__(self, moto: Any, stubbed: Any, operations: set[str]) -> None:
        self.moto, self.stubbed, self.operations = moto, stubbed, operations

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stubbed if name in self.operations else self.moto, name)


def stubbed_client() -> tuple[Any, Stubber]:
    client = boto3.client("sagemaker", region_name="us-east-1")
    return client, Stubber(client)


def endpoint(name: str, config: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"EndpointName": name, "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}",
            "EndpointConfigName": config, "EndpointStatus": status, "CreationTime": NOW, "LastModifiedTime": NOW,
            **extra}


def target(sagemaker: Any, s3: Any, client: Any) -> SageMakerTarget:
    return SageMakerTarget(sagemaker_client=sagemaker, s3_client=s3, mlflow_client=client, poll_interval=0.01)
