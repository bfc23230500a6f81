"""Fixtures of the client tests: the fake Airflow server, a client logged in to it, a configured toy model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from mlops_provider.client import AirflowClient
from tests.helpers.fake_airflow import PASSWORD, USER, FakeAirflow, FakeAirflowServer

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig


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


@pytest.fixture
def toy_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A configured model `toy` (min_rows 50, 60-minute windows) whose inference log is under tmp_path."""
    folder = tmp_path / "models"
    folder.mkdir()
    config = {
        "name": "toy", "target": "label", "features": {"numeric": ["x"], "categorical": ["colour"]},
        "data": {"train": "toy/train.parquet", "inference": str(tmp_path / "inference")},
        "gate": {"minimum": 0.5}, "drift": {"min_rows": 50, "window_minutes": 60},
    }
    (folder / "toy.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(folder))
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    return "toy"


@pytest.fixture
def toy_config(toy_model: str) -> ModelConfig:
    from mlops_provider.config import load_model_config

    return load_model_config(toy_model, check_paths=False)
