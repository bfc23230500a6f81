"""Shadow scoring on a real server (uvicorn on loopback, fitted credit_default pipelines): the live answers are the
same with a shadow on, the shadow's answers land in the shadow log joined by request id, a failing shadow breaks
nothing live, a full queue drops copies and counts them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlops_provider.config import ModelConfig, load_model_config
from mlops_provider.inference_log import PREDICTION, REQUEST_ID, VERSION, list_windows, read_windows
from mlops_provider.serving.app import Service, create_admin_app, create_app
from mlops_provider.serving.logbuffer import InferenceLogBuffer
from mlops_provider.serving.pool import ModelPool, PoolError
from mlops_provider.serving.shadow import LIVE_MS, SHADOW_ERROR, SHADOW_MS, ShadowScorer
from tests.helpers.model_server import credit_pipeline, credit_requests, serving

LOOPBACK = ("127.0.0.1", 50000)
ESTIMATORS = {"1": "hist_gradient_boosting", "2": "logistic_regression"}


class Broken:
    """A shadow version that cannot predict anything."""

    classes_ = np.array([0, 1])

    def predict_proba(self, frame: Any) -> Any:
        raise RuntimeError("shadow model exploded")


def loader(version: str) -> Any:
    return Broken() if version == "9" else credit_pipeline(ESTIMATORS[version])


@pytest.fixture
def credit() -> ModelConfig:
    return load_model_config("credit_default", check_paths=False)


@pytest.fixture
def service(credit: ModelConfig, tmp_path: Path) -> Service:
    pool = ModelPool(loader)
    pool.load("1")
    return Service(config=credit, pool=pool,
                   buffer=InferenceLogBuffer(str(tmp_path / "live"), max_rows=100_000, max_seconds=3600),
                   shadow_log=lambda: InferenceLogBuffer(str(tmp_path / "live" / "shadow"), max_rows=100_000,
                                                         max_seconds=3600))


@pytest.fixture
def admin(service: Service) -> TestClient:
    return TestClient(create_admin_app(service), client=LOOPBACK, base_url="http://127.0.0.1:8081")


def payloads(rows: int, per_request: int = 2) -> list[dict[str, Any]]:
    frame = credit_requests(rows)
    frame = frame.astype(object).where(frame.notna(), None)  # a missing value is null in JSON
    return [{"dataframe_split": {"columns": list(frame.columns),
                                 "data": frame.iloc[i:i + per_request].to_numpy().tolist()}}
            for i in range(0, rows, per_request)]


def send(url: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answers = []
    with httpx.Client(trust_env=False, timeout=30) as http:
        for body in bodies:
            response = http.post(f"{url}/invocations", json=body)
            assert response.status_code == 200, response.text
            answers.append(response.json())
    return answers


def test_answers_are_the_same_with_a_shadow_and_its_answers_join_by_request_id(service: Service, admin: TestClient,
                                                                               tmp_path: Path) -> None:
    bodies = payloads(40)
    with serving(create_app(service)) as url:
        before = send(url, bodies)
        started = admin.post("/admin/shadow", json={"version": "2"})
        assert started.status_code == 200, started.text
        assert started.json()["shadow"] == "2" and started.json()["weights"] == {"1": 100, "2": 0}
        during = send(url, bodies)
        assert service.shadow is not None and service.shadow.drain()
        status = admin.get("/admin/status").json()["shadow_state"]
        stopped = admin.post("/admin/shadow/stop", json={}).json()
    assert [a["predictions"] for a in during] == [b["predictions"] for b in before]
    assert {a["metadata"]["version"] for a in during} == {"1"}
    assert status["submitted"] == status["scored"] == len(bodies) and status["dropped"] == 0
    assert stopped["shadow"] is None and stopped["weights"] == {"1": 100}  # unloaded on stop

    live = read_windows(list_windows(tmp_path / "live"))
    shadow = read_windows(list_windows(tmp_path / "live" / "shadow"))
    assert len(live) == 80 and set(live[VERSION]) == {"1"}  # both rounds, live rows only
    assert len(shadow) == 40 and set(shadow[VERSION]) == {"2"}
    assert set(shadow[REQUEST_ID]) <= set(live[REQUEST_ID])
    expected = credit_pipeline("logistic_regression").predict(shadow[list(credit_requests(1).columns)])
    assert shadow[PREDICTION].tolist() == expected.tolist()
    assert shadow[SHADOW_ERROR].isna().all()
    assert shadow[SHADOW_MS].notna().sum() == shadow[LIVE_MS].notna().sum() == 20  # once per request


def test_a_failing_shadow_never_breaks_the_live_answer_or_log(service: Service, admin: TestClient,
                                                              tmp_path: Path) -> None:
    bodies = payloads(10)
    with serving(create_app(service)) as url:
        assert admin.post("/admin/shadow", json={"version": "9"}).status_code == 200
        answers = send(url, bodies)
        assert service.shadow is not None and service.shadow.drain()
        state = admin.get("/admin/status").json()
        admin.post("/admin/shadow/stop", json={"unload": False})
    assert all(len(a["predictions"]) == 2 for a in answers)
    assert state["shadow_state"]["errors"] == 5 and "shadow model exploded" in state["shadow_state"]["last_error"]
    assert state["versions"][0]["errors"] == 0  # the live version counted no error
    live = read_windows(list_windows(tmp_path / "live"))
    shadow = read_windows(list_windows(tmp_path / "live" / "shadow"))
    assert len(live) == 10 and len(shadow) == 10
    assert shadow[PREDICTION].isna().all() and shadow[SHADOW_ERROR].str.contains("exploded").all()


class Gate:
    """A model that waits at a gate before answering: keeps the shadow busy so its queue fills."""

    classes_ = np.array([0, 1])

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()

    def predict_proba(self, frame: Any) -> Any:
        self.entered.set()
        assert self.open.wait(30)
        return np.tile([0.5, 0.5], (len(frame), 1))


def test_a_full_queue_drops_copies_and_counts_them_without_waiting() -> None:
    gate = Gate()
    scorer = ShadowScorer("2", gate, None, queue_size=2).start()
    frame = credit_requests(1)
    assert scorer.submit(frame, ["a"], 0.001)
    assert gate.entered.wait(30)  # the thread holds copy a; the queue is empty again
    offered = [scorer.submit(frame, [name], 0.001) for name in "bcdef"]
    assert offered == [True, True, False, False, False]
    assert scorer.counters.dropped == 3 and scorer.counters.submitted == 6
    gate.open.set()
    assert scorer.drain()
    scorer.stop()
    assert scorer.counters.scored == 3 and scorer.describe()["dropped"] == 3


def test_the_pool_flags_one_shadow_without_traffic(credit: ModelConfig) -> None:
    pool = ModelPool(lambda version: object())
    pool.load("1")
    with pytest.raises(PoolError, match="takes 100% of the traffic"):
        pool.set_shadow("1")
    pool.load("2")
    pool.set_shadow("2")
    assert pool.routing.shadow == "2" and pool.routing.pick() is not None and pool.routing.pick().version == "1"
    pool.set_weights({"1": 90, "2": 10})  # a canary after the shadow: no longer a shadow
    assert pool.routing.shadow is None
    pool.set_weights({"1": 100})
    pool.set_shadow("2")
    pool.unload("2")
    assert pool.routing.shadow is None


def test_traffic_to_the_shadow_ends_the_shadow_scorer(service: Service, admin: TestClient) -> None:
    assert admin.post("/admin/shadow", json={"version": "2"}).status_code == 200
    assert admin.post("/admin/shadow", json={"version": "9"}).status_code == 409  # one shadow at a time
    assert admin.post("/admin/traffic", json={"weights": {"1": 50, "2": 50}}).status_code == 200
    assert service.shadow is None and admin.get("/admin/status").json()["shadow_state"] is None


def test_no_shadow_without_a_live_version(credit: ModelConfig) -> None:
    service = Service(config=credit, pool=ModelPool(loader))
    admin = TestClient(create_admin_app(service), client=LOOPBACK, base_url="http://127.0.0.1:8081")
    answer = admin.post("/admin/shadow", json={"version": "2"})
    assert answer.status_code == 409 and "no version serves" in answer.json()["detail"]
    remote = TestClient(create_admin_app(service), client=("10.1.2.3", 5), base_url="http://127.0.0.1:8081")
    assert remote.post("/admin/shadow", json={"version": "2"}).status_code == 403


def test_smoke_requests_are_not_shadowed(service: Service, admin: TestClient) -> None:
    admin.post("/admin/shadow", json={"version": "2"})
    with TestClient(create_app(service), client=LOOPBACK) as public:
        response = public.post("/invocations", json=payloads(2)[0], headers={"x-mlops-smoke-test": "1"})
        assert response.status_code == 200
        public.post("/invocations", json=payloads(2)[0])
        assert service.shadow is not None and service.shadow.drain()
        assert service.shadow.counters.submitted == 1
    assert service.shadow_state() is None  # the app's shutdown stopped the shadow


def test_the_shadow_waits_while_live_requests_are_scored(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_provider.serving import shadow as shadow_module

    monkeypatch.setattr(shadow_module, "IDLE_WAIT", 60.0)
    live = threading.Event()
    live.set()
    asked = threading.Event()

    def busy() -> bool:
        asked.set()
        return live.is_set()

    scorer = ShadowScorer("2", credit_pipeline("logistic_regression"), None, busy=busy).start()
    assert scorer.submit(credit_requests(1), ["a"], 0.001)
    assert asked.wait(30)  # the copy is taken and waits for the live request to finish
    assert scorer.counters.scored == 0
    live.clear()
    assert scorer.drain()
    scorer.stop()
    assert scorer.counters.scored == 1 and scorer.counters.errors == 0
