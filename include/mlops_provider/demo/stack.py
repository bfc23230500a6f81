"""`mlops demo up | down | status`: the local demo stack behind `make demo`, MLflow (SQLite) and `airflow
standalone` under `.demo/`. `up` starts both, applies `airflow_settings.yaml`, writes the demo data, runs the
scenario (`scenario.py`) and prints what happened (`summary.py`); `down` stops everything it started."""

from __future__ import annotations

import json
import os

from mlops_provider.client.airflow import AirflowClient, TriggerError
from mlops_provider.demo.processes import (
    AIRFLOW_HOME,
    AIRFLOW_PORT,
    AIRFLOW_URL,
    BIN,
    DATA_DIR,
    DEMO_DIR,
    LOGS,
    MLFLOW_PORT,
    MLFLOW_URL,
    PASSWORD,
    USER,
    WEBHOOK_PORT,
    DemoError,
    log,
    run_or_fail,
    running,
    start,
    stop,
    wait_http,
)
from mlops_provider.demo.scenario import run_scenario
from mlops_provider.demo.summary import print_summary, step
from mlops_provider.settings import PROJECT_DIR


def up() -> int:
    for folder in (LOGS, AIRFLOW_HOME, DATA_DIR):
        folder.mkdir(parents=True, exist_ok=True)
    # the scenario reads the demo's inference logs, shadow logs and labels inbox itself (shadow report, A/B
    # traffic): relative data paths resolve against the demo's data, as they do in every process it starts
    os.environ["MLOPS_DATA_DIR"] = str(DATA_DIR)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # the lifecycle records' downloads drew bars
    (AIRFLOW_HOME / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    try:
        if not (DATA_DIR / "credit_default" / "train.parquet").exists():
            run_or_fail("demo-data", [str(BIN / "mlops"), "demo-data", "--data-dir", str(DATA_DIR)])
            log(f"wrote demo data to {DATA_DIR.relative_to(PROJECT_DIR)}")
        start("mlflow", [str(BIN / "mlflow"), "server", "--backend-store-uri",
                         f"sqlite:///{DEMO_DIR / 'mlflow.db'}", "--artifacts-destination",
                         str(DEMO_DIR / "mlartifacts"), "--host", "127.0.0.1", "--port", str(MLFLOW_PORT),
                         "--workers", "1"], MLFLOW_PORT)
        run_or_fail("airflow-db-migrate", [str(BIN / "airflow"), "db", "migrate"])
        run_or_fail("settings-apply",
                    [str(BIN / "mlops"), "settings", "apply", str(PROJECT_DIR / "airflow_settings.yaml")])
        log("applied airflow_settings.yaml (connection mlflow_default)")
        start("webhook", [str(BIN / "python"), "-m", "mlops_provider.demo.webhook", str(WEBHOOK_PORT)], WEBHOOK_PORT)
        start("airflow", [str(BIN / "airflow"), "standalone"], AIRFLOW_PORT)
        wait_http(f"{MLFLOW_URL}/health", "mlflow", 180)
        wait_http(f"{AIRFLOW_URL}/api/v2/monitor/health", "airflow", 300)
        log("MLflow and Airflow are up")
        with AirflowClient(AIRFLOW_URL, USER, PASSWORD) as api:
            run_scenario(api)
    except (DemoError, TriggerError) as err:
        step("demo", f"FAILED: {err}")
        print_summary()
        return 1
    print_summary()
    return 0


def down() -> int:
    from mlops_provider.deploy.local import LocalTarget

    servers = DEMO_DIR / "serving"
    for state in sorted(servers.glob("*.json")) if servers.is_dir() else []:
        if LocalTarget(state_dir=servers, tracking_uri=MLFLOW_URL).stop(state.stem):
            log(f"stopped the model server of {state.stem} (its inference log flushed)")
    for name in ("airflow", "mlflow", "webhook"):
        stop(name)
    return 0


def status() -> int:
    for name, url in (("airflow", AIRFLOW_URL), ("mlflow", MLFLOW_URL)):
        pid = running(name)
        log(f"{name}: running (pid {pid}) at {url}" if pid else f"{name}: stopped")
    return 0
