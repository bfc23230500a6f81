"""Fixtures of the cockpit tests: one registry history on the real MLflow test server, shared by the session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.model_configs import write_credit_copy
from tests.helpers.model_history import History, write_history


@pytest.fixture
def registry(mlflow_server: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)


@pytest.fixture(scope="session")
def written(mlflow_server: str, demo_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> History:
    """One history for the cockpit tests (MLflow's registry outlives a test; writing it takes seconds)."""
    from mlflow import MlflowClient

    name = write_credit_copy(tmp_path_factory.mktemp("models"), "cockpit_rows")
    return write_history(MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server), mlflow_server, name)


@pytest.fixture
def history(written: History, private_model: Any) -> History:
    """The history's model, configured in the test's own models folder."""
    private_model(written.model)
    return written
