"""The local model server as a process: what it inherits of a worker's environment, and that a stale state file
never gets an unrelated process signalled. Real processes: an idle `mlops_provider.serving` server (it needs no
MLflow until a version is loaded), `sleep` standing in for whatever holds a reused pid."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_provider.deploy.local import AdminClient, ServerProcesses, server_env
from mlops_provider.netutil import free_port
from tests.helpers.model_configs import write_credit_copy

MODEL = "credit_process"
# What an Airflow worker's environment holds besides what a model server needs.
WORKER_SECRETS = {
    "AIRFLOW__CORE__FERNET_KEY": "fernet-secret",
    "AIRFLOW__API_AUTH__JWT_SECRET": "jwt-secret",
    "AIRFLOW__API__SECRET_KEY": "api-secret",
    "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql://airflow:db-password@postgres/airflow",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow:db-password@postgres/airflow",
    "AIRFLOW_CONN_MLFLOW_DEFAULT": '{"conn_type": "mlflow", "login": "svc", "password": "conn-password"}',
    "AIRFLOW_CONN_WAREHOUSE": "postgresql://etl:warehouse-password@db/dwh",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "MLFLOW_TRACKING_PASSWORD": "env-password",
    "MLOPS_AIRFLOW_PASSWORD": "airflow-admin-password",
}


def is_secret(name: str) -> bool:
    return name.startswith(("AIRFLOW__", "AIRFLOW_CONN_")) or name in WORKER_SECRETS


def test_a_server_gets_only_the_allow_listed_environment() -> None:
    worker = {**WORKER_SECRETS, "PATH": "/usr/bin", "HOME": "/home/airflow", "LANG": "C.UTF-8", "LC_ALL": "C",
              "TZ": "UTC", "HTTPS_PROXY": "http://proxy:3128", "MLOPS_DATA_DIR": "/data",
              "MLOPS_MODELS_DIR": "/models", "AIRFLOW_HOME": "/opt/airflow", "MLFLOW_TRACKING_URI": "http://old"}
    env = server_env("http://127.0.0.1:5000", worker)
    assert env == {"PATH": "/usr/bin", "HOME": "/home/airflow", "LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC",
                   "HTTPS_PROXY": "http://proxy:3128", "MLOPS_DATA_DIR": "/data", "MLOPS_MODELS_DIR": "/models",
                   "AIRFLOW_HOME": "/opt/airflow", "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
                   "OMP_NUM_THREADS": "1"}
    assert server_env("http://127.0.0.1:5000", {**worker, "OMP_NUM_THREADS": "4"})["OMP_NUM_THREADS"] == "4"


def test_of_all_connections_a_server_gets_only_its_models_data_connection() -> None:
    env = server_env("http://127.0.0.1:5000", WORKER_SECRETS, conn_id="warehouse")
    assert [name for name in env if is_secret(name)] == ["AIRFLOW_CONN_WAREHOUSE"]


def test_the_hooks_mlflow_login_goes_only_to_a_server_of_the_same_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_provider import mlflow_auth

    token = base64.b64encode(b"svc:s3cret:with-colon").decode()
    monkeypatch.setattr(mlflow_auth, "_AUTH_BY_ORIGIN", {"http://mlflow:5000": f"Basic {token}"})
    env = server_env("http://MLflow:5000/", {})
    assert (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]) == ("svc", "s3cret:with-colon")
    other = server_env("http://other-mlflow:5000", {})
    assert "MLFLOW_TRACKING_USERNAME" not in other and "MLFLOW_TRACKING_PASSWORD" not in other


@pytest.fixture
def processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcesses]:
    write_credit_copy(tmp_path / "models", MODEL)
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    servers = ServerProcesses(tmp_path / "state", host="127.0.0.1", start_timeout=60, log_rows=10,
                              log_seconds=3600)
    try:
        yield servers
    finally:
        servers.stop(MODEL, timeout=10)


def test_the_spawned_server_process_holds_no_worker_secret(processes: ServerProcesses,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in WORKER_SECRETS.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    server = processes.start(MODEL, port, free_port(avoid=port), "http://127.0.0.1:9", AdminClient(10).status)
    environ = dict(line.split("=", 1) for line in
                   Path(f"/proc/{server.pid}/environ").read_bytes().decode().split("\0") if "=" in line)
    assert [name for name in environ if is_secret(name)] == []
    assert not any(secret in value for secret in WORKER_SECRETS.values() for value in environ.values())
    assert environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:9"
    assert environ["MLOPS_MODELS_DIR"].endswith("models")
    assert processes.stop(MODEL)


@pytest.mark.parametrize("stamped", [True, False], ids=["with-a-stamp-of-another-boot", "a-pid-alone"])
def test_a_stale_state_file_naming_an_unrelated_process_leaves_it_alone(processes: ServerProcesses,
                                                                      stamped: bool) -> None:
    """After a reboot the pid of a state file may belong to anything: stopping must not signal it."""
    unrelated = subprocess.Popen(["sleep", "60"])
    try:
        processes.state_dir.mkdir(parents=True)
        state = {"model": MODEL, "pid": unrelated.pid, "host": "127.0.0.1", "port": 1, "admin_port": 2,
                 "log": "x.log", "tracking_uri": "http://127.0.0.1:9",
                 **({"stamp": "another-boot:12345"} if stamped else {})}
        processes.state_file(MODEL).write_text(json.dumps(state))
        server = processes.read_state(MODEL)
        assert server is not None and not processes.alive(server)
        assert processes.stop(MODEL, timeout=2) is False  # nothing of ours was running
        assert unrelated.poll() is None  # still alive: not signalled
        assert not processes.state_file(MODEL).exists()
    finally:
        unrelated.kill()
        unrelated.wait()
