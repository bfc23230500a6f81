"""REST-triggered retraining against a real Airflow api-server + scheduler and a real MLflow server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.retraining_runs import DAG, runs, task_states, trigger, wait_for_dag, wait_run

pytestmark = pytest.mark.e2e


def test_rest_contract_and_a_real_retraining_run(live_airflow: Any, mlflow_server: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    api = live_airflow.api()
    wait_for_dag(api, DAG)
    assert api.patch(f"/dags/{DAG}", json={"is_paused": False}).status_code == 200
    good = {"model": "breast_cancer", "reason": "performance", "requested_by": "e2e-monitor"}

    loaded = api.get("/plugins").json()
    ours = [p for p in loaded["plugins"] if p["name"] == "mlops"]
    assert ours and ours[0]["external_views"][0]["name"] == "MLflow", loaded
    assert not list(Path(live_airflow.home / "plugins").iterdir()), "loaded from the entry point, not the folder"
    assert api.get("/plugins/importErrors").json()["total_entries"] == 0

    no_token = httpx.post(f"{live_airflow.url}/api/v2/dags/{DAG}/dagRuns", json={"logical_date": None, "conf": good})
    assert no_token.status_code == 401

    wrong_enum = trigger(api, "bad-enum", {**good, "reason": "because"})
    assert wrong_enum.status_code == 400 and "Invalid input for param reason" in wrong_enum.text
    unknown_key = trigger(api, "bad-key", {**good, "priority": "high"})
    assert unknown_key.status_code == 400 and "unknown key(s) ['priority']" in unknown_key.text
    no_model = trigger(api, "no-model", {"reason": "drift", "requested_by": "e2e-monitor"})
    assert no_model.status_code == 400 and "missing required key(s) ['model']" in no_model.text
    unknown_model = trigger(api, "bad-model", {**good, "model": "no_such_model"})
    assert unknown_model.status_code == 400 and "Invalid input for param model" in unknown_model.text
    refused = {"bad-enum", "bad-key", "no-model", "bad-model"}
    assert not refused & {r["dag_run_id"] for r in runs(api)}, "a rejected trigger must not create a run"

    run_id = f"e2e__{int(time.time())}"
    created = trigger(api, run_id, good)
    assert created.status_code == 200, created.text
    state = wait_run(api, run_id, timeout=240)
    assert state == "success", task_states(api, run_id)

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    versions = [v for v in client.search_model_versions("name = 'breast_cancer'")
                if v.tags.get("mlops.dag_run_id") == run_id]
    assert len(versions) == 1
    assert versions[0].tags["mlops.reason"] == "performance"
    assert versions[0].tags["mlops.requested_by"] == "e2e-monitor"

    again = trigger(api, run_id, good)
    assert again.status_code == 409
    assert len([r for r in runs(api) if r["dag_run_id"] == run_id]) == 1

    from mlops_provider.client import AirflowClient, TriggerError
    from mlops_provider.client.cli import trigger_main

    with AirflowClient(live_airflow.url, live_airflow.user, live_airflow.password, max_attempts=2,
                       backoff=0.1) as client:
        repeated = client.trigger(DAG, good, dag_run_id=run_id)
        assert (repeated.created, repeated.state) == (False, "success")
        with pytest.raises(TriggerError, match="Invalid input for param reason"):
            client.trigger(DAG, {**good, "reason": "because"}, dag_run_id="client-bad")
    with pytest.raises(TriggerError, match="rejected the credentials"):
        AirflowClient(live_airflow.url, live_airflow.user, "wrong", max_attempts=1).trigger(
            DAG, good, dag_run_id="x")

    # `mlops trigger` right after a successful retraining: the run is recorded, then skipped (cooldown).
    monkeypatch.setenv("MLOPS_AIRFLOW_PASSWORD", live_airflow.password)
    code = trigger_main(["breast_cancer", "--reason", "drift", "--requested-by", "e2e-monitor", "--wait",
                         "--timeout", "180", "--url", live_airflow.url, "--user", live_airflow.user])
    assert code == 0
    newest = max(runs(api), key=lambda r: r["queued_at"] or "")
    assert newest["dag_run_id"] != run_id
    assert task_states(api, newest["dag_run_id"])["request"] == "skipped"
