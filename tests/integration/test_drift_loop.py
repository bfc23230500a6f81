"""The drift loop with real parts: train -> scored traffic -> mlops_drift_monitor -> drift asset event ->
mlops_retraining, against a real MLflow server and real Airflow (dag.test())."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers.html_refs import external_loads


def states(run: Any) -> dict[str, str]:
    return {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in run.get_task_instances()}


def open_report(url: str, server: str) -> str:
    """The HTML report a "Drift report" URL opens: the URL is MLflow's UI page of one artifact file
    (`#/experiments/<id>/runs/<run>/artifacts/<path>`), whose viewer fetches the file from `get-artifact`."""
    page = re.fullmatch(rf"{re.escape(server)}/#/experiments/(\d+)/runs/([0-9a-f]+)/artifacts/(.+)", url)
    assert page, f"not the UI page of an artifact file: {url}"
    ui = requests.get(url, timeout=30)
    assert ui.status_code == 200 and ui.headers["content-type"].startswith("text/html")
    _, run_id, path = page.groups()
    artifact = requests.get(f"{server}/get-artifact", params={"path": path, "run_uuid": run_id}, timeout=60)
    assert artifact.status_code == 200, f"{path} of run {run_id}: HTTP {artifact.status_code}"
    assert artifact.headers["content-type"].startswith("text/html"), artifact.headers["content-type"]
    assert artifact.text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")), artifact.text[:200]
    return artifact.text


def drift_events(model: str) -> list[Any]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                 .where(AssetModel.uri == f"x-mlops://{model}/drift"))
        return [(event.extra, event.timestamp) for event in session.scalars(query)]


@pytest.fixture
def trained(mlflow_conn: str, private_model: Any, load_dag: Any, request: pytest.FixtureRequest) -> str:
    """A trained champion of a private copy of credit_default, with an inference folder of its own."""
    name = private_model(f"credit_drift_{abs(hash(request.node.name)) % 10_000}")
    run = load_dag("mlops_training").test()
    assert str(run.state) == "success", states(run)
    return name


def test_drift_monitor_emits_event_once_then_cools_down_and_retraining_records_reason(
        trained: str, mlflow_conn: str, load_dag: Any) -> None:
    from mlflow import MlflowClient

    from mlops_provider.demo.traffic import send_traffic

    client = MlflowClient(tracking_uri=mlflow_conn, registry_uri=mlflow_conn)
    calm = send_traffic(trained, tracking_uri=mlflow_conn, rows=400, drift=0.0, seed=11)
    first = load_dag("mlops_drift_monitor").test()
    assert str(first.state) == "success", states(first)
    assert drift_events(trained) == [], "no drift in calm traffic, so no event"
    assert calm["version"] == "1"

    # an hour later: the calm window has aged out of the monitoring window
    Path(calm["window"].removeprefix("file://")).unlink()
    send_traffic(trained, tracking_uri=mlflow_conn, rows=400, drift=0.9, seed=12)
    second = load_dag("mlops_drift_monitor").test()
    assert str(second.state) == "success", states(second)
    labels = {ti.task_id: ti.rendered_map_index for ti in second.get_task_instances()}
    assert labels == dict.fromkeys(("model.check_drift", "model.drift_report", "model.emit_drift_event"), trained)
    events = drift_events(trained)
    assert len(events) == 1
    extra = events[0][0]
    assert extra["model"] == trained and extra["version"] == "1"
    assert extra["drift_share"] >= 0.5 and extra["drifted_columns"]
    report = open_report(extra["report_url"], mlflow_conn)
    assert "income" in report and "drift" in report.lower()
    assert external_loads(report) == [], "the drift report must render without the internet"
    report_runs = client.search_runs(
        [client.get_experiment_by_name(f"mlops/{trained}").experiment_id],
        filter_string="tags.`mlops.stage` = 'drift'")
    artifacts = {a.path for a in client.list_artifacts(report_runs[0].info.run_id, "drift")}
    assert {"drift/drift_report.html", "drift/drift_report.json", "drift/engine_result.json"} <= artifacts

    third = load_dag("mlops_drift_monitor").test()
    assert str(third.state) == "success"
    assert len(drift_events(trained)) == 1, "the cooldown must stop a second event for the same episode"

    retrain = load_dag("mlops_retraining").test(run_conf={
        "model": trained, "reason": "drift", "requested_by": "drift-monitor", "drift": extra})
    assert str(retrain.state) == "success", states(retrain)
    newest = max(client.search_model_versions(f"name = '{trained}'"), key=lambda v: int(v.version))
    assert newest.version == "2"
    assert newest.tags["mlops.reason"] == "drift"
    assert newest.tags["mlops.requested_by"] == "drift-monitor"
    assert '"drift_share"' in newest.tags["mlops.drift"]


def test_one_models_failed_check_leaves_every_other_models_report_and_event(
        trained: str, mlflow_conn: str, load_dag: Any, private_model: Any) -> None:
    """Each model is its own mapped task group: a model whose check fails (here a config key nothing reads)
    must not stop the drift report and event of a model that drifted."""
    from mlops_provider.demo.traffic import send_traffic

    broken = private_model("credit_misconfigured", colour="red")
    send_traffic(trained, tracking_uri=mlflow_conn, rows=400, drift=0.9, seed=31)
    run = load_dag("mlops_drift_monitor").test()
    index = {name: i for i, name in enumerate(sorted([trained, broken]))}
    got = states(run)
    assert got[f"model.check_drift[{index[broken]}]"] == "failed", got
    for task in ("check_drift", "drift_report", "emit_drift_event"):
        assert got[f"model.{task}[{index[trained]}]"] == "success", got
    assert got[f"model.emit_drift_event[{index[broken]}]"] == "upstream_failed", got
    assert [extra["version"] for extra, _ in drift_events(trained)] == ["1"]


def test_not_enough_traffic_skips_instead_of_failing(trained: str, load_dag: Any) -> None:
    from mlops_provider.config import load_model_config
    from mlops_provider.triggers.drift import InferenceWindowTrigger

    config = load_model_config(trained, check_paths=False)
    from mlops_provider.inference_log import inference_uri

    trigger = InferenceWindowTrigger(model=trained, folder=inference_uri(config), min_rows=300, window_minutes=60,
                           deadline=(datetime.now(UTC) + timedelta(seconds=1)).isoformat(), poke_interval=0.2)
    event = asyncio.run(_first_event(trigger))
    assert event.payload["status"] == "timeout"
    assert f"model '{trained}': 0 of 300 rows in the last 60 minutes" in event.payload["message"]
    classpath, kwargs = trigger.serialize()
    assert classpath == "mlops_provider.triggers.drift.InferenceWindowTrigger"
    assert InferenceWindowTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_trigger_fires_when_rows_arrive(trained: str, mlflow_conn: str) -> None:
    from mlops_provider.config import load_model_config
    from mlops_provider.demo.traffic import send_traffic
    from mlops_provider.inference_log import inference_uri

    config = load_model_config(trained, check_paths=False)
    from mlops_provider.triggers.drift import InferenceWindowTrigger

    trigger = InferenceWindowTrigger(model=trained, folder=inference_uri(config), min_rows=500, window_minutes=60,
                           deadline=(datetime.now(UTC) + timedelta(seconds=60)).isoformat(), poke_interval=0.2)

    async def scenario() -> Any:
        waiting = asyncio.create_task(_first_event(trigger))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await asyncio.to_thread(send_traffic, trained, tracking_uri=mlflow_conn, rows=300, seed=1)
        await asyncio.to_thread(send_traffic, trained, tracking_uri=mlflow_conn, rows=300, seed=2)
        return await asyncio.wait_for(waiting, 30)

    event = asyncio.run(scenario())
    assert event.payload["status"] == "success"
    assert event.payload["rows"] == 600 and len(event.payload["windows"]) == 2


async def _first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event
    raise AssertionError("trigger ended without an event")


def test_inference_window_files_are_complete_and_listed_in_order(tmp_path: Path) -> None:
    import pandas as pd

    from mlops_provider.inference_log import list_windows, read_windows, write_window

    frame = pd.DataFrame({"x": [1.0, 2.0], "mlops_prediction": [0, 1], "mlops_version": "3",
                          "mlops_timestamp": pd.Timestamp.now(tz="UTC")})
    later = write_window(tmp_path, frame, start=datetime(2026, 1, 1, 10, tzinfo=UTC))
    earlier = write_window(tmp_path, frame, start=datetime(2026, 1, 1, 9, tzinfo=UTC))
    (tmp_path / "notes.txt").write_text("not a window")
    windows = list_windows(tmp_path)
    assert [w.uri for w in windows] == [earlier, later]
    assert earlier.startswith("file:///")
    assert list_windows(tmp_path, since=datetime(2026, 1, 1, 9, 30, tzinfo=UTC))[0].uri == later
    assert len(read_windows(windows)) == 4
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_drift_event_lost_to_a_crash_is_emitted_on_the_retry(private_model: Any, airflow_db: Path) -> None:
    """Airflow records a task's outlet events only when the task succeeds: a try that decided to emit and then
    died must not start the cooldown, or that drift episode goes unreported for the whole cooldown."""
    from airflow.sdk import DAG

    from mlops_provider.operators.drift import EmitDriftEventOperator
    from tests.helpers.dag_db import write_to_db

    model = private_model("credit_crash")
    check = {"model": model, "version": "1", "windows": [], "window_start": datetime.now(UTC).isoformat(),
             "rows": 400, "drifted": True,
             "result": {"drift_share": 0.8, "columns": {"income": {"drifted": True}},
                        "summary": "1 of 1 columns drifted"}}
    tries: list[int] = []

    def worker_lost_after_execute(context: Any, result: Any) -> None:
        tries.append(context["ti"].try_number)
        if len(tries) == 1:
            raise RuntimeError("the worker died after execute, before the task instance succeeded")

    with DAG(f"drift_event_crash_{model}", schedule=None, catchup=False) as dag:
        EmitDriftEventOperator(task_id="emit_drift_event", check=check, retries=1, retry_delay=timedelta(0),
                               post_execute=worker_lost_after_execute)
    write_to_db(dag)
    run = dag.test()

    [ti] = run.get_task_instances()
    assert (str(ti.state), ti.try_number, tries) == ("success", 2, [1, 2]), states(run)
    assert ti.xcom_pull(task_ids="emit_drift_event")["emitted"] is True, "the retry must emit, not cool down"
    assert [extra["drift_share"] for extra, _ in drift_events(model)] == [0.8]
