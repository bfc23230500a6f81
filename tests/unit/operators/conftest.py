"""Fixtures of the operator tests: the fake Kubernetes API server as the Airflow connection `training_cluster`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.fake_k8s import FakeKubernetes, airflow_connection


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubernetes]:
    """The fake API server, reachable as the Airflow connection `training_cluster` (namespace `ml-jobs`)."""
    server = FakeKubernetes()
    monkeypatch.setenv("AIRFLOW_CONN_TRAINING_CLUSTER", airflow_connection(server.start(), "ml-jobs"))
    try:
        yield server
    finally:
        server.stop()
