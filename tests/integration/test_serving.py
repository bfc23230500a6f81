"""The model server for real: a real MLflow registry, `python -m mlops_provider.serving` on loopback ports, HTTP.

The tests of this module share one server process and run in order: load, score, split, switch, label, shut
down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlops_provider.netutil import free_port, wait_http
from tests.helpers.model_configs import write_credit_copy
from tests.helpers.trained_versions import register_versions

MODEL = "credit_serving"


@dataclass
class Server:
    url: str
    admin: str
    proc: subprocess.Popen[bytes]
    log: Path
    inference: Path
    versions: list[str]

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return int(self.proc.returncode)


@pytest.fixture(scope="module")
def server(mlflow_server: str, demo_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serving")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLOPS_MODELS_DIR", str(root / "models"))
        env.setenv("MLOPS_DATA_DIR", str(demo_data_dir))
        write_credit_copy(root / "models", MODEL)
        versions = register_versions(MODEL, mlflow_server, [150, 5])
        port, admin_port = free_port(), free_port()
        log = root / "server.log"
        cmd = [sys.executable, "-m", "mlops_provider.serving", MODEL, "--idle", "--port", str(port),
               "--admin-port", str(admin_port), "--tracking-uri", mlflow_server,
               "--log-rows", "100000", "--log-seconds", "3600"]
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        running = Server(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}", proc, log,
                         demo_data_dir / MODEL / "inference", versions)
        try:
            wait_http(f"{running.admin}/admin/status", timeout=60, proc=proc, log=log)
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def holdout(server: Server, demo_data_dir: Path, mlflow_server: str) -> Any:
    """30 holdout rows and each version's own predictions for them."""
    from mlops_provider.config import load_model_config
    from mlops_provider.deploy.smoke import model_predictions, smoke_rows
    from mlops_provider.tracking import tracking_uri

    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLOPS_MODELS_DIR", str(server.log.parent / "models"))
        env.setenv("MLOPS_DATA_DIR", str(demo_data_dir))
        rows = smoke_rows(load_model_config(MODEL), 30)
    with tracking_uri(mlflow_server):
        expected = {v: model_predictions(MODEL, v, rows) for v in server.versions}
    assert expected["1"] != expected["2"], "the two versions must disagree somewhere for these tests"
    return rows, expected


def admin(http: httpx.Client, server: Server, path: str, **body: Any) -> dict[str, Any]:
    response = http.post(f"{server.admin}{path}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def one_row(rows: Any, i: int) -> dict[str, Any]:
    from mlops_provider.deploy.smoke import split_payload

    return split_payload(rows.iloc[i:i + 1])


def test_ready_only_after_a_version_is_loaded(server: Server, http: httpx.Client) -> None:
    assert http.get(f"{server.url}/health").status_code == 200
    assert http.get(f"{server.url}/ready").status_code == 503
    assert http.post(f"{server.url}/invocations", json={"dataframe_records": [{}]}).status_code == 503
    admin(http, server, "/admin/load", version=server.versions[0])
    assert http.get(f"{server.url}/ready").json()["weights"] == {"1": 100}
    assert http.get(f"{server.url}/version").json()["versions"][0]["version"] == "1"


def test_both_scoring_formats_answer_the_models_own_predictions(server: Server, http: httpx.Client,
                                                                holdout: Any) -> None:
    from mlops_provider.deploy.smoke import split_payload

    rows, expected = holdout
    split = split_payload(rows)
    response = http.post(f"{server.url}/invocations", json=split)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected["1"]
    request_id = response.headers["x-request-id"]
    assert response.json()["metadata"] == {"request_id": request_id, "version": "1",
                                           "prediction_ids": [f"{request_id}.{i}" for i in range(len(rows))]}
    columns, data = split["dataframe_split"]["columns"], split["dataframe_split"]["data"]
    records = {"dataframe_records": [dict(zip(columns, values, strict=True)) for values in data]}
    assert http.post(f"{server.url}/invocations", json=records).json()["predictions"] == expected["1"]
    missing = {"dataframe_records": [{"age": 30}]}
    response = http.post(f"{server.url}/invocations", json=missing)
    assert response.status_code == 400 and "missing feature column(s)" in response.json()["message"]


def test_canary_splits_traffic_roughly_by_weight(server: Server, http: httpx.Client, holdout: Any) -> None:
    rows, _ = holdout
    admin(http, server, "/admin/load", version=server.versions[1])
    admin(http, server, "/admin/traffic", weights={"1": 75, "2": 25})
    served = Counter(http.post(f"{server.url}/invocations", json=one_row(rows, i % len(rows)))
                     .headers["x-mlops-version"] for i in range(400))
    assert 0.17 < served["2"] / 400 < 0.33, served
    admin(http, server, "/admin/traffic", weights={"1": 75, "2": 25}, routing="hash")
    keyed = [http.post(f"{server.url}/invocations", json=one_row(rows, 0), headers={"x-routing-key": f"c{i % 5}"})
             .headers["x-mlops-version"] for i in range(20)]
    assert keyed[:5] * 4 == keyed  # a key always lands on the same version
    admin(http, server, "/admin/traffic", weights={"1": 100}, routing="random")


def test_blue_green_switches_under_load_drop_no_request(server: Server, holdout: Any) -> None:
    rows, expected = holdout
    stop = threading.Event()
    results: list[tuple[int, str, int, Any]] = []

    def fire() -> None:
        with httpx.Client(timeout=30, trust_env=False) as client:
            i = 0
            while not stop.is_set():
                response = client.post(f"{server.url}/invocations", json=one_row(rows, i % len(rows)))
                version = response.headers.get("x-mlops-version", "")
                body = response.json().get("predictions") if response.status_code == 200 else response.text
                results.append((response.status_code, version, i % len(rows), body))
                i += 1

    threads = [threading.Thread(target=fire) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        with httpx.Client(timeout=30, trust_env=False) as control:
            for switch in range(10):
                target = server.versions[(switch + 1) % 2]
                response = control.post(f"{server.admin}/admin/promote", json={"version": target})
                assert response.status_code == 200, response.text
                threading.Event().wait(0.15)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert len(results) > 50
    assert [r for r in results if r[0] != 200] == []
    assert {version for _, version, _, _ in results} == {"1", "2"}
    # every answer is the prediction of the version that says it answered
    assert all(body == [expected[version][i]] for _, version, i, body in results)


def test_admin_listens_on_loopback_only(server: Server) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
        except OSError:
            address = "127.0.0.1"
    if address.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    admin_port = int(server.admin.rsplit(":", 1)[1])
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{address}:{admin_port}/admin/status", timeout=5, trust_env=False)


def test_labels_for_served_predictions_are_stored_once(server: Server, http: httpx.Client, holdout: Any) -> None:
    rows, _ = holdout
    for i in range(3):
        answer = http.post(f"{server.url}/invocations", json=one_row(rows, i), headers={"x-request-id": f"loan-{i}"})
        assert answer.json()["metadata"]["prediction_ids"] == [f"loan-{i}"]
    body = {"labels": [{"request_id": "loan-0", "label": 1, "event_time": "2026-12-01T10:00:00Z"},
                       {"request_id": "loan-1", "label": 0}, {"request_id": "loan-404", "label": 1}]}
    first = http.post(f"{server.url}/feedback", json=body).json()
    assert (first["accepted"], first["unknown_ids"], first["rejected"]) == (2, 1, 1)
    again = http.post(f"{server.url}/feedback", json=body).json()
    assert (again["accepted"], again["already_known"], again["unknown_ids"]) == (0, 2, 1)
    conflict = http.post(f"{server.url}/feedback", json={"labels": [{"request_id": "loan-1", "label": 1}]}).json()
    assert conflict["conflicting"] == 1
    bad = http.post(f"{server.url}/feedback", json={"labels": [{"request_id": "loan-2"}]})
    assert bad.status_code == 400 and "labels[0].label is missing" in bad.json()["message"]


def test_every_request_is_logged_and_flushed_on_shutdown(server: Server, http: httpx.Client, holdout: Any) -> None:
    import pandas as pd

    from mlops_provider import inference_log

    rows, _ = holdout
    status = http.get(f"{server.admin}/admin/status").json()
    scored = sum(v["rows"] for v in status["versions"])
    flushed = admin(http, server, "/admin/flush")["window"]
    assert flushed is not None
    for i in range(7):  # after the flush: these must be written by the shutdown
        http.post(f"{server.url}/invocations", json=one_row(rows, i))
    http.post(f"{server.url}/invocations", json=one_row(rows, 0), headers={"x-mlops-smoke-test": "1"})  # not logged
    assert server.stop() == 0
    windows = inference_log.list_windows(str(server.inference))
    assert len(windows) == 2 and windows[0].uri == flushed
    frame = inference_log.read_windows(windows)
    assert len(frame) == scored + 7
    from mlops_provider.config import load_model_config

    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLOPS_MODELS_DIR", str(server.log.parent / "models"))
        features = load_model_config(MODEL, check_paths=False).features.all
    assert list(frame.columns) == [*features, *inference_log.META_COLUMNS]
    assert set(frame[inference_log.VERSION]) == {"1", "2"}
    assert set(frame[inference_log.PREDICTION]) <= {0, 1}
    assert pd.api.types.is_datetime64_any_dtype(frame[inference_log.TIMESTAMP])
    assert "Application shutdown complete" in server.log.read_text()
    assert frame[inference_log.REQUEST_ID].notna().all() and frame[inference_log.SCORE].between(0, 1).all()
    assert {"loan-0", "loan-1", "loan-2"} <= set(frame[inference_log.REQUEST_ID])


def test_the_log_holds_each_versions_own_scores_and_joins_the_labels(server: Server, mlflow_server: str,
                                                                     demo_data_dir: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from mlops_provider import inference_log, labels
    from mlops_provider.config import load_model_config
    from mlops_provider.tracking import load_version, tracking_uri

    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLOPS_MODELS_DIR", str(server.log.parent / "models"))
        env.setenv("MLOPS_DATA_DIR", str(demo_data_dir))
        config = load_model_config(MODEL, check_paths=False)
        frame = inference_log.read_windows(inference_log.list_windows(str(server.inference)))
        with tracking_uri(mlflow_server):
            for version in server.versions:
                served = frame[frame[inference_log.VERSION] == version]
                model = load_version(MODEL, version)
                features = served[config.features.all]
                assert served[inference_log.SCORE].tolist() == model.predict_proba(features)[:, 1].tolist()
                assert served[inference_log.PREDICTION].tolist() == model.predict(features).tolist()
        now = datetime.now(UTC)
        joined = labels.labelled_predictions(config, start=now - timedelta(hours=1), end=now + timedelta(minutes=1))
    assert joined.set_index(inference_log.REQUEST_ID)[labels.LABEL].to_dict() == {"loan-0": 1, "loan-1": 0}
    assert joined.attrs["unlabelled"] == len(frame) - 2
