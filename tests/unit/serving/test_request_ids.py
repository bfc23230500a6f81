"""Prediction ids and scores: the caller's x-request-id or one of ours, in the answer and in the inference log, and
the positive-class probability of a real scikit-learn pipeline scored in one pass."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlops_provider import inference_log
from mlops_provider.config import ModelConfig
from mlops_provider.deploy.smoke import split_payload
from mlops_provider.serving.app import Service, create_admin_app, create_app
from mlops_provider.serving.logbuffer import InferenceLogBuffer
from mlops_provider.serving.pool import ModelPool
from mlops_provider.serving.scoring import predict_scored
from tests.helpers.model_server import credit_pipeline, credit_requests

LOOPBACK = ("127.0.0.1", 50000)


@pytest.mark.parametrize("estimator", ["hist_gradient_boosting", "logistic_regression", "random_forest"])
def test_one_predict_proba_pass_predicts_what_predict_does(estimator: str, credit: ModelConfig) -> None:
    from mlops_provider.data import features_frame

    model = credit_pipeline(estimator)
    features = features_frame(credit, credit_requests(500))
    predictions, scores = predict_scored(model, features)
    assert predictions == model.predict(features).tolist()
    assert 0 < sum(predictions) < len(predictions)  # both classes occur: the comparison means something
    assert scores is not None and np.allclose(scores, model.predict_proba(features)[:, 1], rtol=0, atol=0)


def test_regressors_and_multiclass_models_have_no_score() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    x = pd.DataFrame({"a": np.arange(30, dtype=float), "b": np.arange(30, dtype=float) % 7})
    regression = LinearRegression().fit(x, x["a"] * 2 + 1)
    predictions, scores = predict_scored(regression, x)
    assert scores is None and np.allclose(predictions, regression.predict(x))
    three = LogisticRegression(max_iter=500).fit(x, (x["a"] // 10).astype(int))
    predictions, scores = predict_scored(three, x)
    assert scores is None and predictions == three.predict(x).tolist() and set(predictions) == {0, 1, 2}


@pytest.fixture
def pipeline_service(credit: ModelConfig, log_folder: Path) -> Service:
    pool = ModelPool(lambda version: credit_pipeline())
    pool.load("1")
    return Service(config=credit, pool=pool, buffer=InferenceLogBuffer(str(log_folder), max_rows=100_000,
                                                                       max_seconds=3600))


@pytest.fixture
def scored(pipeline_service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(pipeline_service), client=LOOPBACK) as client:
        yield client


def flushed_window(service: Service) -> pd.DataFrame:
    admin = TestClient(create_admin_app(service), client=LOOPBACK, base_url="http://127.0.0.1:8081")
    uri = admin.post("/admin/flush").json()["window"]
    return pd.read_parquet(uri.removeprefix("file://"))


def test_ids_in_the_header_the_body_and_the_log(pipeline_service: Service, scored: TestClient,
                                                credit: ModelConfig) -> None:
    from mlops_provider.data import features_frame

    rows = credit_requests(3)
    own = scored.post("/invocations", json=split_payload(rows.iloc[:1]), headers={"x-request-id": "order-17:a.b_c"})
    assert own.status_code == 200 and own.headers["x-request-id"] == "order-17:a.b_c"
    assert own.json()["metadata"] == {"request_id": "order-17:a.b_c", "prediction_ids": ["order-17:a.b_c"],
                                      "version": "1"}
    ours = scored.post("/invocations", json=split_payload(rows))
    request_id = ours.headers["x-request-id"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0  # uuid4 hex
    assert ours.json()["metadata"]["prediction_ids"] == [f"{request_id}.{i}" for i in range(3)]
    other = scored.post("/invocations", json=split_payload(rows.iloc[:1])).headers["x-request-id"]
    assert other != request_id
    smoke = scored.post("/invocations", json=split_payload(rows.iloc[:1]), headers={"x-mlops-smoke-test": "1"})
    assert smoke.status_code == 200 and smoke.headers["x-request-id"]

    frame = flushed_window(pipeline_service)
    assert frame[inference_log.REQUEST_ID].tolist() == ["order-17:a.b_c", *(f"{request_id}.{i}" for i in range(3)),
                                                        other]  # not the smoke request
    model = credit_pipeline()
    features = features_frame(credit, pd.concat([rows.iloc[:1], rows, rows.iloc[:1]], ignore_index=True))
    assert frame[inference_log.SCORE].tolist() == model.predict_proba(features)[:, 1].tolist()
    assert frame[inference_log.PREDICTION].tolist() == model.predict(features).tolist()
    assert ours.json()["predictions"] == model.predict(features.iloc[1:4]).tolist()
    assert list(frame.columns) == [*credit.features.all, *inference_log.META_COLUMNS]


@pytest.mark.parametrize("bad", ["", "a b", "x" * 129, "id/with/slashes", "ünïcode", "semi;colon"])
def test_a_bad_request_id_is_400_naming_the_header(pipeline_service: Service, scored: TestClient,
                                                   bad: str) -> None:
    response = scored.post("/invocations", json=split_payload(credit_requests(1)),
                           headers={"x-request-id": bad.encode()})
    assert response.status_code == 400 and "x-request-id" in response.json()["message"]
    assert pipeline_service.refused.bad_requests == 1 and pipeline_service.buffer is not None
    assert pipeline_service.buffer.pending_rows == 0


def test_the_longest_valid_id_is_kept(scored: TestClient) -> None:
    longest = "A9._:-" * 21 + "xy"
    assert len(longest) == 128
    response = scored.post("/invocations", json=split_payload(credit_requests(1)), headers={"x-request-id": longest})
    assert response.status_code == 200 and response.json()["metadata"]["prediction_ids"] == [longest]


def test_old_windows_without_ids_still_read_beside_new_ones(pipeline_service: Service, scored: TestClient,
                                                            log_folder: Path, credit: ModelConfig) -> None:
    from mlops_provider.monitoring import current_features

    old = credit_requests(2).assign(**{inference_log.PREDICTION: [0, 1], inference_log.VERSION: "1",
                                       inference_log.TIMESTAMP: pd.Timestamp.now(tz="UTC")})
    inference_log.write_window(str(log_folder), old)
    scored.post("/invocations", json=split_payload(credit_requests(3)))
    flushed_window(pipeline_service)
    windows = inference_log.list_windows(str(log_folder))
    frame = inference_log.read_windows(windows)
    assert len(frame) == 5 and frame[inference_log.REQUEST_ID].isna().sum() == 2
    assert list(current_features(credit, windows).columns) == credit.features.all  # what the drift monitor reads


def test_no_request_id_is_made_twice_under_concurrency(scored: TestClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    payload = split_payload(credit_requests(1))
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: scored.post("/invocations", json=payload).headers["x-request-id"], range(64)))
    assert len(set(ids)) == 64
