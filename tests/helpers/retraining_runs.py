"""Reading and starting `mlops_retraining` runs on a live Airflow's REST API (an `httpx.Client` at `/api/v2`),
for the e2e tests."""

from __future__ import annotations

import time
from typing import Any

import httpx

DAG = "mlops_retraining"


def wait_for_dag(api: httpx.Client, dag_id: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.get(f"/dags/{dag_id}").status_code == 200:
            return
        time.sleep(2)
    raise AssertionError(f"{dag_id} not parsed in {timeout}s; import errors: {api.get('/importErrors').text[:2000]}")


def runs(api: httpx.Client) -> list[dict[str, Any]]:
    return list(api.get(f"/dags/{DAG}/dagRuns").json()["dag_runs"])


def trigger(api: httpx.Client, run_id: str, conf: Any) -> httpx.Response:
    return api.post(f"/dags/{DAG}/dagRuns", json={"logical_date": None, "dag_run_id": run_id, "conf": conf})


def wait_run(api: httpx.Client, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api.get(f"/dags/{DAG}/dagRuns/{run_id}").json()["state"]
        if state in ("success", "failed"):
            return str(state)
        time.sleep(3)
    return "timeout"


def task_states(api: httpx.Client, run_id: str) -> dict[str, str]:
    items = api.get(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    return {item["task_id"]: item["state"] for item in items}
