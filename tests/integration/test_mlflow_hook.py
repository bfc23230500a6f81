"""MLflowHook against the real tracking server: a client, nothing written to os.environ, clear failures."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from mlops_provider import mlflow_auth
from mlops_provider.exceptions import RegistryError
from mlops_provider.hooks.mlflow import MLflowHook, tracking_uri_from
from tests.helpers.model_configs import write_credit_copy


def test_client_talks_to_the_server_and_env_is_untouched(mlflow_conn: str) -> None:
    before = dict(os.environ)
    hook = MLflowHook()
    client = hook.get_conn()
    assert client.search_experiments(max_results=1)
    with hook.fluent():
        import mlflow

        assert mlflow.get_tracking_uri() == mlflow_conn
    assert dict(os.environ) == before
    assert hook.test_connection() == (True, f"MLflow at {mlflow_conn} answered")


def test_basic_auth_goes_to_a_header_not_the_environment(mlflow_server: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_AUTH", json.dumps(
        {"conn_type": "mlflow", "host": mlflow_server, "login": "ml", "password": "s3cret"}))
    monkeypatch.setattr(mlflow_auth, "_AUTH_BY_ORIGIN", {})
    before = dict(os.environ)
    MLflowHook("mlflow_auth").get_conn()
    expected = "Basic " + base64.b64encode(b"ml:s3cret").decode()
    assert mlflow_auth._AUTH_BY_ORIGIN[mlflow_auth.origin(mlflow_server)] == expected
    assert mlflow_auth.BasicAuthHeaderProvider().in_context()
    assert dict(os.environ) == before, "credentials must not be written to os.environ"


class _Recorder(BaseHTTPRequestHandler):
    """An MLflow stand-in that answers health and experiment searches and records each Authorization header."""

    seen: list[str | None]

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self._answer()

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._answer()

    def _answer(self) -> None:
        self.server.seen.append(self.headers.get("authorization"))  # type: ignore[attr-defined]
        body = b'{"experiments": []}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorders() -> Iterator[list[Any]]:
    servers = []
    for _ in range(2):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        server.seen = []  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield servers
    for server in servers:
        server.shutdown()


def test_credentials_go_only_to_the_server_they_belong_to(recorders: list[Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A hook with a login to server A, then a hook without one to server B: B never sees A's credentials."""
    with_login, without = recorders
    monkeypatch.setattr(mlflow_auth, "_AUTH_BY_ORIGIN", {})
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_A", json.dumps(
        {"conn_type": "mlflow", "host": f"http://127.0.0.1:{with_login.server_port}", "login": "ml",
         "password": "s3cret"}))
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_B", json.dumps(
        {"conn_type": "mlflow", "host": f"http://127.0.0.1:{without.server_port}"}))
    client_a = MLflowHook("mlflow_a").get_conn()
    client_b = MLflowHook("mlflow_b").get_conn()
    client_b.search_experiments(max_results=1)
    client_a.search_experiments(max_results=1)
    expected = "Basic " + base64.b64encode(b"ml:s3cret").decode()
    assert without.seen and set(without.seen) == {None}, without.seen
    assert with_login.seen and set(with_login.seen) == {expected}, "probe and MLflow calls carry A's login"


def test_unreachable_server_is_retried_then_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DOWN", json.dumps({"conn_type": "mlflow", "host": "http://127.0.0.1:9"}))
    started = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        MLflowHook("mlflow_down", probe_attempts=3).get_conn()
    assert "MLflow tracking server at http://127.0.0.1:9 is unreachable after 3 attempts" in str(caught.value)
    assert time.monotonic() - started >= 3.0, "expected backoff of 1 s then 2 s between attempts"


@pytest.mark.parametrize(("host", "port", "extra", "expected"), [
    ("http://mlflow:5000", None, {}, "http://mlflow:5000"),
    ("mlflow", 5000, {}, "http://mlflow:5000"),
    ("https://ml.example.com/", None, {}, "https://ml.example.com"),
    ("ignored", None, {"tracking_uri": "http://other:1/"}, "http://other:1"),
])
def test_tracking_uri_from_connection_fields(host: str, port: int | None, extra: dict[str, Any],
                                             expected: str) -> None:
    assert tracking_uri_from(host, port, None, extra) == expected


def test_operator_bad_inputs_fail_without_retry_and_name_the_problem(
        mlflow_conn: str, demo_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Missing data, empty data, a missing target and a raising trainer: no retry, a clear message."""
    from mlops_provider.operators.training import TrainModelOperator

    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(models))
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path))
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "good.parquet").write_bytes((demo_data_dir / "credit_default/train.parquet").read_bytes())
    cases = {
        "m_missing": ({"data": {"train": "absent.parquet"}}, "key 'data.train': file"),
        "m_empty": ({"data": {"train": "empty.csv"}}, "empty.csv is empty"),
        "m_target": ({"target": "defaulted", "data": {"train": "good.parquet"}},
                     "missing column(s) ['defaulted']"),
        "m_trainer": ({"data": {"train": "good.parquet"}, "trainer": {"params": {"estimator": "magic"}}},
                      "trainer 'mlops_provider.training.sklearn:train_classifier' raised ValueError: "
                      "trainer.params.estimator: unknown estimator 'magic'"),
    }
    for name, (change, expected) in cases.items():
        write_credit_copy(models, name, **change)
        with pytest.raises(AirflowFailException) as caught:
            TrainModelOperator(task_id="train", model=name).execute({"run_id": "manual__bad", "ti": None})
        assert expected in str(caught.value), name
        assert name in str(caught.value), name
