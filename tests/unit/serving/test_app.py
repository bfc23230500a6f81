"""The server's apps with stand-in models: scoring formats, readiness, pinning, and the loopback-only admin API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlops_provider.config import ModelConfig, load_model_config
from mlops_provider.serving.app import Service, create_admin_app, create_app, is_loopback
from mlops_provider.serving.logbuffer import InferenceLogBuffer
from mlops_provider.serving.pool import ModelPool

LOOPBACK = ("127.0.0.1", 50000)
REMOTE = ("10.1.2.3", 50000)


class Model:
    """Predicts its version number for every row; version 9 cannot predict."""

    def __init__(self, version: str) -> None:
        self.version = int(version)

    def predict(self, frame: Any) -> list[int]:
        if self.version == 9:
            raise ValueError("broken model")
        return [self.version] * len(frame)


@pytest.fixture
def config() -> ModelConfig:
    return load_model_config("credit_default", check_paths=False)


@pytest.fixture
def service(config: ModelConfig, tmp_path: Any) -> Service:
    return Service(config=config, pool=ModelPool(Model), buffer=InferenceLogBuffer(str(tmp_path / "log")))


@pytest.fixture
def public(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service), client=LOOPBACK) as client:
        yield client


@pytest.fixture
def admin(service: Service) -> TestClient:
    return TestClient(create_admin_app(service), client=LOOPBACK, base_url="http://127.0.0.1:8081")


def row(config: ModelConfig) -> dict[str, Any]:
    values: dict[str, Any] = {c: 1.0 for c in config.features.numeric}
    return {**values, **{c: "x" for c in config.features.categorical}}


@pytest.mark.parametrize(("host", "expected"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("10.1.2.3", False), ("192.168.1.20", False), ("::ffff:10.0.0.1", False), ("testclient", False),
    ("", False), (None, False),
])
def test_is_loopback(host: str | None, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_admin_api_refuses_non_loopback_clients(service: Service) -> None:
    remote = TestClient(create_admin_app(service), client=REMOTE)
    for path, body in [("/admin/load", {"version": "1"}), ("/admin/traffic", {"weights": {"1": 100}}),
                       ("/admin/promote", {"version": "1"}), ("/admin/unload", {"version": "1"}),
                       ("/admin/flush", {})]:
        response = remote.post(path, json=body)
        assert response.status_code == 403, path
        assert "loopback clients only, not 10.1.2.3" in response.json()["detail"]
    assert remote.get("/admin/status").status_code == 403
    assert service.pool.routing.versions == ()


@pytest.mark.parametrize(("headers", "refused"), [
    ({"Host": "rebind.attacker.example"}, "not Host 'rebind.attacker.example'"),
    ({"Host": "rebind.attacker.example:8081"}, "not Host 'rebind.attacker.example:8081'"),
    ({"Host": "127.0.0.1:8081", "Origin": "http://rebind.attacker.example"}, "cross-site"),
    ({"Host": "127.0.0.1:8081", "Origin": "null"}, "cross-site"),
])
def test_admin_api_refuses_a_foreign_host_or_origin_from_loopback(service: Service, admin: TestClient,
                                                                  headers: dict[str, str], refused: str) -> None:
    """DNS rebinding: a browser on this machine, sent to a hostile page whose name resolves to 127.0.0.1."""
    response = admin.post("/admin/load", json={"version": "1"}, headers=headers)
    assert response.status_code == 403
    assert refused in response.json()["detail"]
    assert service.pool.routing.versions == ()


@pytest.mark.parametrize("host", ["127.0.0.1:8081", "localhost:8081", "[::1]:8081", "localhost"])
def test_admin_api_answers_loopback_names(admin: TestClient, host: str) -> None:
    origin = f"http://{host}"
    assert admin.get("/admin/status", headers={"Host": host, "Origin": origin}).status_code == 200


def test_ready_only_once_a_version_takes_all_traffic(public: TestClient, admin: TestClient) -> None:
    health = public.get("/health").json()
    assert (health["status"], health["model"], health["inference_log"]["status"]) == ("alive", "credit_default", "ok")
    assert public.get("/ready").status_code == 503
    assert admin.post("/admin/load", json={"version": 1}).json()["weights"] == {"1": 100}
    assert public.get("/ready").json() == {"ready": True, "model": "credit_default", "weights": {"1": 100}}
    assert public.get("/version").json()["weights"] == {"1": 100}


def test_both_scoring_formats(public: TestClient, admin: TestClient, config: ModelConfig) -> None:
    admin.post("/admin/load", json={"version": "3"})
    one = row(config)
    split = {"dataframe_split": {"columns": list(one), "data": [list(one.values())] * 2}}
    response = public.post("/invocations", json=split)
    assert response.json()["predictions"] == [3, 3] and response.headers["x-mlops-version"] == "3"
    request_id = response.headers["x-request-id"]
    assert response.json()["metadata"] == {"request_id": request_id, "version": "3",
                                           "prediction_ids": [f"{request_id}.0", f"{request_id}.1"]}
    records = {"dataframe_records": [one, {**one, "extra_column": 5}]}
    assert public.post("/invocations", json=records).json()["predictions"] == [3, 3]


@pytest.mark.parametrize(("body", "message"), [
    (b"not json", "body is not JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (b'{"instances": [[1, 2]]}', "instances is for tensor models"),
    (b'{"dataframe_split": {"data": [[1]]}}', "needs 'columns' and 'data'"),
    (b'{"dataframe_records": [{"age": 1}]}', "missing feature column"),
    (b'{"dataframe_records": []}', "no rows to score"),
])
def test_bad_payloads_are_400_and_name_the_problem(public: TestClient, admin: TestClient, body: bytes,
                                                   message: str) -> None:
    admin.post("/admin/load", json={"version": "1"})
    response = public.post("/invocations", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error_code"] == "BAD_REQUEST"
    assert message in response.json()["message"]


def test_no_version_is_503_and_a_failing_model_is_500(public: TestClient, admin: TestClient,
                                                      config: ModelConfig) -> None:
    payload = {"dataframe_records": [row(config)]}
    assert public.post("/invocations", json=payload).status_code == 503
    admin.post("/admin/load", json={"version": "9"})
    response = public.post("/invocations", json=payload)
    assert response.status_code == 500 and "v9 failed: ValueError: broken model" in response.json()["message"]
    assert admin.get("/admin/status").json()["versions"][0]["errors"] == 1


def test_pinning_a_version_is_for_loopback_clients(service: Service, public: TestClient, admin: TestClient,
                                                   config: ModelConfig) -> None:
    admin.post("/admin/load", json={"version": "1"})
    admin.post("/admin/load", json={"version": "2"})
    payload = {"dataframe_records": [row(config)]}
    assert public.post("/invocations", json=payload, headers={"x-mlops-version": "2"}).json()["predictions"] == [2]
    assert public.post("/invocations", json=payload, headers={"x-mlops-version": "5"}).status_code == 404
    remote = TestClient(create_app(service), client=REMOTE)
    assert remote.post("/invocations", json=payload, headers={"x-mlops-version": "2"}).status_code == 403
    assert remote.post("/invocations", json=payload).json()["predictions"] == [1]


def test_requests_are_logged_smoke_tests_are_not(service: Service, public: TestClient, admin: TestClient,
                                                 config: ModelConfig) -> None:
    import pandas as pd

    admin.post("/admin/load", json={"version": "4"})
    payload = {"dataframe_records": [row(config)] * 3}
    public.post("/invocations", json=payload)
    public.post("/invocations", json=payload, headers={"x-mlops-smoke-test": "1"})
    assert admin.get("/admin/status").json()["log_pending_rows"] == 3
    flushed = admin.post("/admin/flush").json()
    assert flushed["window"].startswith("file://") and flushed["windows"] == 1
    frame = pd.read_parquet(flushed["window"].removeprefix("file://"))
    assert list(frame.columns) == [*config.features.all, "mlops_prediction", "mlops_version", "mlops_timestamp",
                                   "mlops_request_id", "mlops_score"]
    assert frame["mlops_score"].isna().all()  # a model without predict_proba has no scores
    assert frame["mlops_prediction"].tolist() == [4, 4, 4] and set(frame["mlops_version"]) == {"4"}
    assert str(frame["mlops_timestamp"].dtype).startswith("datetime64") and frame["mlops_timestamp"].dt.tz
    assert admin.post("/admin/flush").json()["window"] is None


def test_admin_errors_are_http_errors_with_a_reason(admin: TestClient) -> None:
    admin.post("/admin/load", json={"version": "1"})
    response = admin.post("/admin/traffic", json={"weights": {"1": 60, "2": 40}})
    assert response.status_code == 404 and "version(s) 2 not loaded" in response.json()["detail"]
    response = admin.post("/admin/traffic", json={"weights": {"1": 100}, "routing": "sticky"})
    assert response.status_code == 400 and "routing mode 'sticky'" in response.json()["detail"]
    assert admin.post("/admin/unload", json={"version": "8"}).status_code == 404
    assert admin.post("/admin/load", json={}).status_code == 422
