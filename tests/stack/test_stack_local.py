"""`mlops stack up --local --workers 2`: the compose stack's topology as processes (PostgreSQL, Redis, MLflow's
basic-auth app, Airflow's api-server, scheduler, dag-processor, triggerer and two Celery workers). mlops_training,
triggered over the REST API, runs through the real scheduler on both workers and leaves a champion for each demo
model in a registry that refuses requests without credentials.

Slow (minutes: see docs/stack-local.md) and needs root or PostgreSQL and Redis installed: `make test-stack`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlops_provider.client.airflow import AirflowClient
from mlops_provider.settings import model_names
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.stack

WORKERS = ("worker-1", "worker-2")
RUN_TIMEOUT = 1800


def mlops(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT / "include"),
                                                                     os.environ.get("PYTHONPATH"))))}
    return subprocess.run([sys.executable, "-m", "mlops_provider.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    """A stack of two workers (one task slot each) in a folder of its own, stopped and removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="mlops-stack-"))
    folder.chmod(0o755)  # PostgreSQL runs as the postgres account, which must reach its data folder
    started = time.monotonic()
    try:
        up = mlops("stack", "up", "--local", "--workers", "2", "--concurrency", "1", "--dir", str(folder),
                   timeout=900)
        assert up.returncode == 0, f"stack up failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
        state = json.loads((folder / "stack.json").read_text())
        state["bring_up_seconds"] = time.monotonic() - started
        data = mlops("demo-data", "--data-dir", state["data_dir"], timeout=300)
        assert data.returncode == 0, data.stderr
        yield state
    finally:
        down = mlops("stack", "down", "--dir", str(folder), timeout=600)
        shutil.rmtree(folder, ignore_errors=down.returncode != 0)


def credentials(path: str) -> tuple[str, str]:
    login = json.loads(Path(path).read_text())
    return login["username"], login["password"]


def test_stack_json_names_the_endpoints_and_private_credential_files(stack: dict[str, Any]) -> None:
    assert stack["workers"] == list(WORKERS)
    for key in ("airflow_credentials_file", "mlflow_credentials_file"):
        assert Path(stack[key]).stat().st_mode & 0o777 == 0o600
    assert Path(stack["env_file"]).stat().st_mode & 0o777 == 0o600
    text = json.dumps(stack)
    assert credentials(stack["mlflow_credentials_file"])[1] not in text, "stack.json holds no secret"
    assert httpx.get(f"{stack['airflow_url']}/api/v2/version", timeout=10).status_code == 200


def test_mlflow_refuses_requests_without_the_service_account(stack: dict[str, Any]) -> None:
    url = f"{stack['mlflow_url']}/api/2.0/mlflow/registered-models/search"
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, auth=("mlops", "wrong-password"), timeout=10).status_code == 401
    assert httpx.get(url, auth=credentials(stack["mlflow_credentials_file"]), timeout=10).status_code == 200


def test_training_runs_on_both_workers_and_leaves_champions(stack: dict[str, Any]) -> None:
    started = time.monotonic()
    with AirflowClient(stack["airflow_url"], *credentials(stack["airflow_credentials_file"])) as api:
        api.wait_for_dag("mlops_training", timeout=300)
        api.unpause("mlops_training")
        run = api.trigger("mlops_training", {}, dag_run_id="stack-test")
        state = api.wait("mlops_training", run.dag_run_id, timeout=RUN_TIMEOUT, poll=5)
    took = time.monotonic() - started
    print(f"\nstack: bring-up {stack['bring_up_seconds']:.0f} s, mlops_training {took:.0f} s", flush=True)
    user, password = credentials(stack["airflow_credentials_file"])
    token = httpx.post(f"{stack['airflow_url']}/auth/token", json={"username": user, "password": password},
                       timeout=30).json()["access_token"]
    tis = httpx.get(f"{stack['airflow_url']}/api/v2/dags/mlops_training/dagRuns/stack-test/taskInstances",
                    params={"limit": 100}, headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    ran = {ti["task_id"]: ti["hostname"] for ti in tis["task_instances"]}
    print("stack: tasks per worker " + ", ".join(f"{w} {list(ran.values()).count(w)}" for w in WORKERS), flush=True)
    assert state == "success", f"mlops_training ended {state}: {ran}"
    assert set(ran.values()) == set(WORKERS), f"each task names the worker that ran it: {ran}"

    mlflow = httpx.Client(base_url=stack["mlflow_url"], auth=credentials(stack["mlflow_credentials_file"]),
                          timeout=30)
    for model in model_names():
        champion = mlflow.get("/api/2.0/mlflow/registered-models/alias", params={"name": model, "alias": "champion"})
        assert champion.status_code == 200, f"{model}: no champion: {champion.text[:300]}"
        assert champion.json()["model_version"]["name"] == model
    # Airflow used the service account: MLflow gave the creator of each registered model MANAGE on it
    mine = mlflow.get("/api/3.0/mlflow/users/current/permissions").json()
    managed = {p["resource_pattern"] for p in mine["permissions"]
               if p["resource_type"] == "registered_model" and p["permission"] == "MANAGE"}
    assert not mine["is_admin"] and managed >= set(model_names()), mine
