"""Shared fixtures: a real MLflow tracking server on loopback, demo data, an isolated Airflow home."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_provider.netutil import free_port, wait_http
from tests.helpers.model_configs import write_credit_copy
from tests.helpers.paths import ROOT

# Airflow must not touch ~/airflow or load example DAGs; set before anything imports airflow.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="mlops-test-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
for _name in [k for k in os.environ if k.startswith(("AIRFLOW_CONN_", "MLOPS_"))]:
    del os.environ[_name]
# Local model servers the tests start keep their state here, never in the project's .demo/.
os.environ["MLOPS_STATE_DIR"] = str(_AIRFLOW_HOME / "mlops-state")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server (SQLite backend, local artifacts) on a free loopback port."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = root / "server.log"
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{uri}/health", timeout=120, proc=proc, log=log)
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server runs uvicorn and job workers as children
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def mlflow_conn(mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`mlflow_default` pointing at the test server, the way a deployment configures it."""
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps({"conn_type": "mlflow", "host": mlflow_server}))
    return mlflow_server


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo datasets of both demo models, written once per session."""
    from mlops_provider.demo.datasets import write_demo_data

    folder = tmp_path_factory.mktemp("data")
    write_demo_data(folder)
    return folder


@pytest.fixture
def demo_env(demo_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLOPS_DATA_DIR", str(demo_data_dir))
    return demo_data_dir


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite Airflow metadata DB in the test AIRFLOW_HOME (what dag.test() needs)."""
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                            env=os.environ.copy(), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return _AIRFLOW_HOME


@pytest.fixture
def load_dag(airflow_db: Path) -> Any:
    """Build a DAG of dags/ the way the DAG processor does (fresh each call, so env changes apply)."""
    from airflow.dag_processing.dagbag import DagBag

    def load(dag_id: str) -> Any:
        bag = DagBag(dag_folder=str(ROOT / "dags"))
        assert not bag.import_errors, bag.import_errors
        return bag.dags[dag_id]

    return load


@pytest.fixture
def private_model(demo_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A models folder holding one copy of credit_default under a name no other test uses."""
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(folder))
    monkeypatch.setenv("MLOPS_DATA_DIR", str(demo_data_dir))

    def write(name: str, **changes: Any) -> str:
        return write_credit_copy(folder, name, **changes)

    return write
