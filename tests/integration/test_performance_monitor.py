"""The production feedback loop with real parts: a trained champion serves scored traffic with ids, labels arrive
late in the labels inbox, `mlops_performance_monitor` (dag.test()) measures realized and estimated performance,
judges by the policy, alerts a real HTTP receiver, rolls back and asks for retraining through asset events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers.webhook import webhook_receiver

POLICY = {"performance": {"metric": "roc_auc", "minimum": 0.70, "max_drop": 0.05, "min_labels": 100},
          "estimated": {"metric": "roc_auc", "max_drop": 0.05},
          "on_degradation": ["alert", "rollback", "retrain"]}


def states(run: Any) -> dict[str, str]:
    return {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in run.get_task_instances()}


def events(model: str, kind: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                 .where(AssetModel.uri == f"x-mlops://{model}/{kind}"))
        return [dict(event.extra or {}) for event in session.scalars(query)]


@pytest.fixture
def served(mlflow_conn: str, private_model: Any, load_dag: Any, monkeypatch: pytest.MonkeyPatch,
           request: pytest.FixtureRequest) -> Any:
    """A private copy of credit_default with a policy and an HTTP alert, trained once (v1), then v2 registered
    from the same run and made champion (v1 its previous_champion)."""
    import mlflow
    from mlflow import MlflowClient

    from mlops_provider.tracking import tracking_uri

    receiver = webhook_receiver()
    hook = receiver.__enter__()
    request.addfinalizer(lambda: receiver.__exit__(None, None, None))
    monkeypatch.setenv("AIRFLOW_CONN_PAGER_TEST", json.dumps({"conn_type": "http", "host": hook.base}))
    name = private_model(f"credit_perf_{abs(hash(request.node.name)) % 10_000}", monitor=POLICY,
                         alerts=[{"notifier": "http", "conn_id": "pager_test", "on": ["degradation", "rollback"]}])
    run = load_dag("mlops_training").test()
    assert str(run.state) == "success", states(run)
    client = MlflowClient(tracking_uri=mlflow_conn, registry_uri=mlflow_conn)
    first = client.get_model_version(name, "1")
    with tracking_uri(mlflow_conn):
        second = mlflow.register_model(first.source, name)
    client.set_registered_model_alias(name, "previous_champion", "1")
    client.set_registered_model_alias(name, "champion", second.version)
    return name, client, hook


def deliver_labels(name: str, ids: list[str], labels: Any, folder: Path) -> None:
    """Drop a labels file in the model's labels inbox, as a late batch of ground truth."""
    from mlops_provider.config import load_model_config
    from mlops_provider.labels import labels_uri

    inbox = Path(labels_uri(load_model_config(name, check_paths=False)).removeprefix("file://")) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"request_id": ids, "label": labels}).to_csv(inbox / "batch-1.csv", index=False)


def test_a_degraded_champion_is_measured_alerted_rolled_back_and_retrained(served: Any, mlflow_conn: str,
                                                                           load_dag: Any, tmp_path: Path) -> None:
    from mlops_provider.demo.traffic import send_traffic
    from mlops_provider.tracking import TAG_DEGRADED, TAG_MONITOR

    name, client, hook = served
    sent = send_traffic(name, tracking_uri=mlflow_conn, rows=600, seed=21, via_server=False)
    assert sent["version"] == "2" and len(sent["prediction_ids"]) == 600
    # the world changed: the labels no longer follow the model (coin flips), so its roc_auc falls to ~0.5
    coin = np.random.default_rng(5).integers(0, 2, 400)
    deliver_labels(name, sent["prediction_ids"][:400], coin, tmp_path)

    run = load_dag("mlops_performance_monitor").test()
    assert str(run.state) == "success", states(run)
    labels = {ti.task_id: ti.rendered_map_index for ti in run.get_task_instances()}
    assert labels == {"model.check_production": name, "model.act": name}

    summary = json.loads(client.get_model_version(name, "2").tags[TAG_MONITOR])
    assert summary["verdict"] == "degraded" and summary["n_labels"] == 400
    assert summary["realized"] < 0.6 < summary["baseline"], summary
    # CBPE on the unlabelled traffic (same distribution as training) still says the model is fine
    assert abs(summary["estimated"] - summary["baseline"]) < 0.05, summary
    assert summary["actions"] == ["alert", "rollback", "retrain"]
    evidence = json.loads(client.get_model_version(name, "2").tags[TAG_DEGRADED])
    assert "below the minimum 0.7" in " ".join(evidence["reasons"])

    history = client.get_metric_history(summary["run_id"], "realized_roc_auc")
    assert [round(m.value, 6) for m in history] == [round(summary["realized"], 6)]
    metrics = client.get_run(summary["run_id"]).data.metrics
    assert {"labelled_rows", "predictions", "estimated_roc_auc", "realized_accuracy"} <= set(metrics)

    assert [e["version"] for e in events(name, "rollback")] == ["1"]
    retrain = events(name, "performance")
    assert len(retrain) == 1 and retrain[0]["policy"] == "degraded" and retrain[0]["labelled"] == 400
    assert client.get_registered_model(name).aliases["champion"] == "2", "the champion moves only if asked"

    bodies = [json.loads(post["body"]) for post in hook.posts]
    kinds = [body["kind"] for body in bodies]
    assert kinds == ["degradation", "rollback"], kinds
    assert bodies[0]["model"] == name and "realized roc_auc" in bodies[0]["numbers"]
    assert "MLflow version" in bodies[0]["links"]

    # an hour later, within the cooldown: measured again, but no second rollback, retrain or alert
    again = load_dag("mlops_performance_monitor").test()
    assert str(again.state) == "success", states(again)
    assert len(events(name, "rollback")) == 1 and len(events(name, "performance")) == 1
    assert len(hook.posts) == 2


def test_zero_labels_is_no_verdict_and_nothing_is_done(served: Any, mlflow_conn: str, load_dag: Any) -> None:
    from mlops_provider.demo.traffic import send_traffic
    from mlops_provider.tracking import TAG_MONITOR

    name, client, hook = served
    send_traffic(name, tracking_uri=mlflow_conn, rows=300, seed=22, via_server=False)
    run = load_dag("mlops_performance_monitor").test()
    assert str(run.state) == "success", states(run)
    summary = json.loads(client.get_model_version(name, "2").tags[TAG_MONITOR])
    assert summary["n_labels"] == 0 and summary["realized"] is None
    assert summary["verdict"] == "ok" and summary["actions"] == []  # judged by the estimate alone
    assert events(name, "rollback") == [] and hook.posts == []


def test_a_notifier_that_is_down_delays_nothing_and_the_action_is_still_taken(
        served: Any, mlflow_conn: str, load_dag: Any, tmp_path: Path) -> None:
    from mlops_provider.demo.traffic import send_traffic

    name, client, hook = served
    hook.failures = 1000  # the receiver answers 500 to everything
    sent = send_traffic(name, tracking_uri=mlflow_conn, rows=400, seed=23, via_server=False)
    deliver_labels(name, sent["prediction_ids"][:300], np.random.default_rng(6).integers(0, 2, 300), tmp_path)

    run = load_dag("mlops_performance_monitor").test()
    assert str(run.state) == "success", states(run)
    act = next(ti for ti in run.get_task_instances() if ti.task_id == "model.act")
    assert str(act.state) == "success"
    assert [e["version"] for e in events(name, "rollback")] == ["1"], "the rollback is taken all the same"
    assert len(events(name, "performance")) == 1
    assert len(hook.posts) == 6, "two alerts (degradation, rollback), each tried three times"
