"""TrainModelOperator with `trainer.runner: kubernetes`: the task names the pod after its DAG, run and try, passes
the MLflow connection's address (its login only by reference), and returns the pod's TrainingResult as a local
training's; what a retry cannot fix fails the task without retry, the rest leaves it to retry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_provider.operators.training import TrainModelOperator
from mlops_provider.training.remote import RESULT_MARKER, RemoteTraining
from tests.helpers.fake_k8s import FakeKubernetes
from tests.helpers.fake_pods import PodOutcome
from tests.helpers.remote_training import SAMPLE, TaskInstance, configure_trainer


def configure(model: str, monkeypatch: pytest.MonkeyPatch, *, login: bool, **runner: Any) -> None:
    mlflow = {"conn_type": "mlflow", "host": "http://mlflow.mlops:5000", "extra": {"ui_url": "https://mlflow.example"}}
    if login:
        mlflow.update(login="airflow", password="pw-never-in-a-pod")
    configure_trainer(model, monkeypatch, {"runner": "kubernetes", "kubernetes": {
        "image": "registry.example/mlops:1.4", "conn_id": "training_cluster", **runner}}, mlflow=mlflow)


def test_the_task_trains_in_a_pod_and_returns_its_result(toy_model: str, fake: FakeKubernetes,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    configure(toy_model, monkeypatch, login=True, secret="mlflow-login")
    fake.created_pods.script = lambda pod: PodOutcome(0, "training\n" + RESULT_MARKER + json.dumps(SAMPLE))
    ti = TaskInstance(try_number=2)
    operator = TrainModelOperator(task_id="train", model=toy_model, reason="drift",
                                  validation={"data_digest": "d", "evaluated": 3, "failed": 0})

    result = operator.execute({"ti": ti, "run_id": "manual__2026-03-01"})

    assert result == SAMPLE
    assert ti.pushed["mlflow_run_url"] == "https://mlflow.example/#/experiments/7/runs/0123abcd"
    expected = RemoteTraining(model="toy", dag_id="mlops_training", run_id="manual__2026-03-01", try_number=2,
                              reason="drift", validation=None, tracking_uri="http://mlflow.mlops:5000")
    [pod] = fake.created_pods.created
    assert (pod["metadata"]["namespace"], pod["metadata"]["name"]) == ("ml-jobs", expected.name)  # the connection's
    container = pod["spec"]["containers"][0]
    assert container["command"][container["command"].index("--reason") + 1] == "drift"
    assert {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.mlops:5000"} in container["env"]
    assert "pw-never-in-a-pod" not in json.dumps(pod)


def test_a_login_without_a_secret_fails_the_task_without_retry(toy_model: str, fake: FakeKubernetes,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    configure(toy_model, monkeypatch, login=True)
    operator = TrainModelOperator(task_id="train", model=toy_model)
    with pytest.raises(AirflowFailException, match="key 'trainer.kubernetes.secret'"):
        operator.execute({"ti": TaskInstance(), "run_id": "manual__2026-03-01"})
    assert fake.created_pods.created == []


def test_a_pod_killed_by_the_node_leaves_the_task_to_retry(toy_model: str, fake: FakeKubernetes,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from mlops_provider.exceptions import RunnerError

    configure(toy_model, monkeypatch, login=False)
    fake.created_pods.script = lambda pod: PodOutcome(137, "Killed")
    operator = TrainModelOperator(task_id="train", model=toy_model)
    with pytest.raises(RunnerError, match="exit code 137") as failed:
        operator.execute({"ti": TaskInstance(), "run_id": "manual__2026-03-01"})
    assert not isinstance(failed.value, AirflowFailException)
