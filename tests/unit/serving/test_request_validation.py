"""Requests are coerced to the model's feature types or refused with a 4xx naming the column or field; refusals
never reach the model and never count as model errors (the canary rolls back on those)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlops_provider import inference_log
from mlops_provider.serving.app import Service, create_app


def post(client: TestClient, payload: Any) -> Any:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return client.post("/invocations", content=body, headers={"content-type": "application/json"})


def test_a_category_sent_as_a_number_is_taken_as_text_and_every_window_is_written(
        scoring: TestClient, admin_api: TestClient, credit_row: Any, log_folder: Path) -> None:
    assert post(scoring, {"dataframe_records": [credit_row(purpose=5)]}).status_code == 200
    assert post(scoring, {"dataframe_records": [credit_row(purpose="car", age="41", income=None)]}).status_code == 200
    flushed = admin_api.post("/admin/flush").json()
    assert flushed["window"] is not None and flushed["quarantined"] == []
    frame = inference_log.read_windows(inference_log.list_windows(str(log_folder)))
    assert frame["purpose"].tolist() == ["5", "car"]
    assert frame["age"].dtype == "float64" and frame["age"].tolist() == [1.0, 41.0]
    assert pd.isna(frame["income"].iloc[1])
    assert scoring.get("/health").json()["inference_log"]["status"] == "ok"


def _infinite(row: Any, column: str, value: str) -> str:
    return json.dumps({"dataframe_records": [row(**{column: 0.5})]}).replace("0.5", value, 1)


def _split(columns: list[str], data: list[list[Any]]) -> dict[str, Any]:
    return {"dataframe_split": {"columns": columns, "data": data}}


BAD_INPUT = [
    (lambda row: _infinite(row, "age", "Infinity"), "'age' is infinite"),
    (lambda row: _infinite(row, "income", "-Infinity"), "'income' is infinite"),
    (lambda row: {"dataframe_records": [row(income=[1, 2])]}, "'income' must be a number, got list"),
    (lambda row: {"dataframe_records": [row(age="old")]}, "'age' must be a number, got str"),
    (lambda row: {"dataframe_records": [row(purpose=["car"])]}, "'purpose' must be text, got list"),
    (lambda row: {"dataframe_records": [row(region={"a": 1})]}, "'region' must be text, got dict"),
    (lambda row: {"dataframe_records": [row(region=True)]}, "'region' must be text, got bool"),
    (lambda row: '{"dataframe_records": [{"age": 1, "age": 2}]}', "duplicate key(s) ['age']"),
    (lambda row: _split([*row(), "age"], [[*row().values(), 3.0]]), "duplicate column(s) ['age']"),
    (lambda row: _split(list(row()), [list(row().values()), list(row().values())[:-1]]),
     "'data' row 1 must be a list of"),
    (lambda row: {"dataframe_records": [row(), {}]}, "dataframe_records row 1 is empty"),
    (lambda row: {"dataframe_records": [row()], "format": "csv"}, "unknown field(s) ['format']"),
    (lambda row: {"dataframe_csv": "age\n1"}, "expected exactly one of"),
]


@pytest.mark.parametrize(("payload", "named"), BAD_INPUT, ids=[named for _, named in BAD_INPUT])
def test_bad_input_is_400_naming_the_column_and_no_model_error(
        scoring: TestClient, admin_api: TestClient, credit_row: Any, payload: Any, named: str) -> None:
    response = post(scoring, payload(credit_row))
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "BAD_REQUEST" and named in response.json()["message"]
    status = admin_api.get("/admin/status").json()
    assert status["versions"][0]["errors"] == 0  # what the canary reads
    assert status["refused"]["bad_requests"] == 1
    assert scoring.get("/version").json()["refused"]["bad_requests"] == 1


def test_a_body_over_the_limit_is_413_declared_or_streamed(strict_service: Service, admin_api: TestClient,
                                                           credit_row: Any) -> None:
    strict_service.max_body_bytes = 2_000
    big = json.dumps({"dataframe_records": [credit_row()] * 20}).encode()
    with TestClient(create_app(strict_service), client=("127.0.0.1", 50000)) as client:
        declared = client.post("/invocations", content=big, headers={"content-type": "application/json"})
        streamed = client.post("/invocations", content=iter([big[:1500], big[1500:]]),
                               headers={"content-type": "application/json"})
        small = client.post("/invocations", json={"dataframe_records": [credit_row()]})
    assert declared.status_code == 413 and "2000 bytes" in declared.json()["message"]
    assert streamed.status_code == 413
    assert small.status_code == 200
    status = admin_api.get("/admin/status").json()
    assert status["refused"]["too_large"] == 2 and status["versions"][0]["errors"] == 0
