"""Fixtures of the SageMaker target tests: moto's server (S3 and the SageMaker calls moto implements)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.helpers.moto_stand_in import REGION, moto_server

BUCKET = "mlops-models"  # the bucket of the tests' `deploy.options.s3_prefix`


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_url: str) -> tuple[Any, Any]:
    """SageMaker and S3 clients on moto, with the models bucket."""
    sagemaker = boto3.client("sagemaker", endpoint_url=moto_url, region_name=REGION)
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name=REGION)
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    return sagemaker, s3
