"""Fixtures of the client tests: the fake Airflow server, a client logged in to it (the toy model: tests/unit)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from mlops_provider.client import AirflowClient
from tests.helpers.fake_airflow import PASSWORD, USER, FakeAirflow, FakeAirflowServer


@pytest.fixture
def airflow() -> Iterator[FakeAirflow]:
    server = FakeAirflowServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def client(airflow: FakeAirflow) -> Iterator[AirflowClient]:
    with AirflowClient(airflow.url, USER, PASSWORD, timeout=2, max_attempts=4, backoff=0.001) as api:
        yield api


@pytest.fixture
def airflow_env(airflow: FakeAirflow, monkeypatch: pytest.MonkeyPatch) -> FakeAirflow:
    """The CLI's environment pointing at the fake server."""
    monkeypatch.setenv("MLOPS_AIRFLOW_URL", airflow.url)
    monkeypatch.setenv("MLOPS_AIRFLOW_USER", USER)
    monkeypatch.setenv("MLOPS_AIRFLOW_PASSWORD", PASSWORD)
    return airflow

