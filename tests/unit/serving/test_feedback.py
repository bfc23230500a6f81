"""`POST /feedback`: labels for the predictions the server made, checked and stored once, with a real fitted
pipeline behind `/invocations` and the model's real inference and labels folders under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlops_provider import inference_log, labels
from mlops_provider.config import ModelConfig
from mlops_provider.deploy.smoke import split_payload
from mlops_provider.serving.app import Service, create_app
from mlops_provider.serving.logbuffer import InferenceLogBuffer
from mlops_provider.serving.pool import ModelPool
from tests.helpers.model_server import credit_pipeline, credit_requests

LOOPBACK = ("127.0.0.1", 50000)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def new_service(config: ModelConfig, **options: Any) -> Service:
    pool = ModelPool(lambda version: credit_pipeline())
    pool.load("1")
    buffer = InferenceLogBuffer(inference_log.inference_uri(config), max_rows=100_000, max_seconds=3600)
    return Service(config=config, pool=pool, buffer=buffer, **options)


@pytest.fixture
def service(credit: ModelConfig, data_dir: Path) -> Service:
    return new_service(credit)


@pytest.fixture
def api(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service), client=LOOPBACK) as client:
        yield client


def predict(api: TestClient, rows: int, **headers: str) -> list[str]:
    response = api.post("/invocations", json=split_payload(credit_requests(rows)), headers=headers)
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()["metadata"]["prediction_ids"]
    return ids


def send(api: TestClient, *items: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/feedback", json={"labels": list(items)})
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def stored(config: ModelConfig) -> dict[str, Any]:
    frame = labels.read_labels(config)
    return dict(zip(frame[inference_log.REQUEST_ID], frame[labels.LABEL], strict=True))


def test_labels_are_accepted_once_and_a_resend_changes_nothing(api: TestClient, credit: ModelConfig) -> None:
    ids = predict(api, 3)  # still in the server's buffer: known all the same
    items = [{"request_id": ids[0], "label": 1, "event_time": "2026-12-01T10:00:00Z"},
             {"request_id": ids[1], "label": 0}, {"request_id": ids[2], "label": True}]
    first = send(api, *items)
    assert (first["received"], first["accepted"], first["rejected"]) == (3, 3, 0)
    assert first["source"] == "api:127.0.0.1" and first["log_file"].startswith("file://")
    files = sorted(Path(labels.labels_uri(credit), "log").rglob("*.parquet"))
    second = send(api, *items)
    assert (second["accepted"], second["already_known"], second["rejected"], second["log_file"]) == (0, 3, 0, None)
    assert sorted(Path(labels.labels_uri(credit), "log").rglob("*.parquet")) == files
    assert stored(credit) == {ids[0]: 1, ids[1]: 0, ids[2]: 1}


def test_every_kind_of_refusal_is_counted_and_explained(api: TestClient, credit: ModelConfig) -> None:
    ids = predict(api, 4)
    smoke = predict(api, 1, **{"x-mlops-smoke-test": "1"})  # not logged: no label can refer to it
    send(api, {"request_id": ids[0], "label": 1})
    report = send(api,
                  {"request_id": ids[0], "label": 0},  # the log says 1
                  {"request_id": ids[1], "label": 1}, {"request_id": ids[1], "label": 0},  # two answers
                  {"request_id": ids[2], "label": "maybe"}, {"request_id": ids[3], "label": 0.5},
                  {"request_id": "never-made", "label": 1}, {"request_id": smoke[0], "label": 1},
                  {"request_id": None, "label": 1}, {"request_id": "", "label": 1},
                  {"request_id": ids[3], "label": None}, {"request_id": ids[3], "label": 1, "event_time": "soon"})
    assert {k: report[k] for k in ("received", "accepted", "conflicting", "wrong_type", "unknown_ids", "missing_id",
                                   "bad_time", "rejected")} == {
        "received": 11, "accepted": 0, "conflicting": 3, "wrong_type": 3, "unknown_ids": 2, "missing_id": 2,
        "bad_time": 1, "rejected": 11}
    assert any(f"prediction '{ids[0]}' already has label 1" in p for p in report["problems"])
    assert stored(credit) == {ids[0]: 1}


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "body is not JSON"),
    (b"[]", 'expected a JSON object {"labels"'),
    (b'{"labels": []}', "'labels' must be a non-empty list"),
    (b'{"labels": [{"request_id": "a", "label": 1}], "model": "x"}', "unknown field(s) ['model']"),
    (b'{"labels": [{"request_id": "a", "label": 1}, 7]}', "labels[1] must be an object"),
    (b'{"labels": [{"request_id": "a"}]}', "labels[0].label is missing"),
    (b'{"labels": [{"label": 1}]}', "labels[0].request_id is missing"),
    (b'{"labels": [{"request_id": 5, "label": 1}]}', "labels[0].request_id must be a string"),
    (b'{"labels": [{"request_id": "a", "label": 1}, {"request_id": "b", "label": [1]}]}',
     "labels[1].label must be a number, a boolean or a string"),
    (b'{"labels": [{"request_id": "a", "label": 1, "event_time": 1700000000}]}',
     "labels[0].event_time must be an ISO 8601 time string"),
    (b'{"labels": [{"request_id": "a", "label": 1, "weight": 2}]}', "labels[0]: unknown field(s) ['weight']"),
])
def test_a_malformed_body_is_400_naming_the_field(service: Service, api: TestClient, credit: ModelConfig,
                                                  body: bytes, message: str) -> None:
    response = api.post("/feedback", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error_code"] == "BAD_REQUEST"
    assert message in response.json()["message"]
    assert service.refused.bad_requests == 1
    assert not Path(labels.labels_uri(credit)).exists()


def test_a_body_over_the_limit_is_413(credit: ModelConfig, data_dir: Path) -> None:
    with TestClient(create_app(new_service(credit, max_body_bytes=200)), client=LOOPBACK) as api:
        items = [{"request_id": f"id-{i}", "label": 1} for i in range(20)]
        assert api.post("/feedback", json={"labels": items}).status_code == 413


def test_ids_of_an_earlier_server_are_found_in_the_inference_log(credit: ModelConfig, data_dir: Path) -> None:
    with TestClient(create_app(new_service(credit)), client=LOOPBACK) as before:
        ids = predict(before, 2)
    # the first server wrote its window at shutdown; this one remembers no id of its own
    with TestClient(create_app(new_service(credit)), client=LOOPBACK) as after:
        report = send(after, {"request_id": ids[0], "label": 0}, {"request_id": ids[1], "label": 1},
                      {"request_id": "unheard-of", "label": 1})
    assert (report["accepted"], report["unknown_ids"]) == (2, 1)


def test_concurrent_deliveries_of_the_same_labels_store_them_once(api: TestClient, credit: ModelConfig) -> None:
    ids = predict(api, 20)
    items = [{"request_id": i, "label": n % 2} for n, i in enumerate(ids)]
    with ThreadPoolExecutor(6) as pool:
        reports = list(pool.map(lambda _: send(api, *items), range(6)))
    assert sum(r["accepted"] for r in reports) == 20
    assert sum(r["already_known"] for r in reports) == 100 and all(r["rejected"] == 0 for r in reports)
    assert len(labels.read_labels(credit)) == 20
    files = list(Path(labels.labels_uri(credit), "log").rglob("*.parquet"))
    assert sum(len(pd.read_parquet(f)) for f in files) == 20  # no id written twice
