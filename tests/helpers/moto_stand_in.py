"""moto's server on loopback: the stand-in for S3 and the SageMaker calls moto implements (no AWS here)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mlops_provider.netutil import free_port

REGION = "us-east-1"


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's threaded server with dummy credentials and no AWS profile in sight; yields its URL."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
            env.setenv(key, "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            env.delenv(key, raising=False)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


def aws_connection(url: str) -> str:
    """`aws_default` as an AIRFLOW_CONN_ value pointing at moto, the way a deployment configures it."""
    return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                       "extra": {"endpoint_url": url, "region_name": REGION}})
