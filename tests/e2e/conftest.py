"""A real Airflow (`airflow standalone`: api-server, scheduler, dag-processor, triggerer) on loopback, with a
fresh SQLite AIRFLOW_HOME, pointed at the session's real MLflow server. Every process is stopped afterwards."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlops_provider.netutil import free_port, wait_http
from tests.helpers.browser import chromium_path
from tests.helpers.paths import ROOT

USER, PASSWORD = "e2e", "e2e-password"


@dataclass
class LiveAirflow:
    url: str
    home: Path
    log: Path
    user: str = USER
    password: str = PASSWORD

    def token(self) -> str:
        response = httpx.post(f"{self.url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v2", timeout=30,
                            headers={"Authorization": f"Bearer {self.token()}"})


@pytest.fixture(scope="session")
def live_airflow(mlflow_server: str, demo_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[LiveAirflow]:
    home = tmp_path_factory.mktemp("airflow-live")
    plugins = home / "plugins"
    plugins.mkdir()
    port = free_port()
    (home / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLOPS_", "PYTEST"))}
    env.update({
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        # an empty plugins folder: the mlops plugin must load through the package's `airflow.plugins` entry point
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        # how often unanswered human-in-the-loop requests are checked for their timeout (default 15 s)
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "3",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps({"conn_type": "mlflow", "host": mlflow_server}),
        "MLOPS_DATA_DIR": str(demo_data_dir),
        "MLOPS_MODELS_DIR": str(_e2e_models(home / "models")),
        "NO_PROXY": "127.0.0.1,localhost",
    })
    log = home / "standalone.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=home, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/api/v2/monitor/health", timeout=240, proc=proc, log=log)
        yield LiveAirflow(url=url, home=home, log=log)
    finally:
        _stop(proc)


# models only the e2e Airflow knows, beside copies of the demo's: a breast_cancer that waits for a person's approval
APPROVAL_MODELS = {"signed_cancer": {"required": True, "assigned_to": [USER], "timeout_hours": 1},
                   "hurried_cancer": {"required": True, "timeout_hours": 0.002}}  # ~7 s: times out


def _e2e_models(folder: Path) -> Path:
    """The repo's model configs, unchanged, plus `APPROVAL_MODELS`: breast_cancer copies with `gate.approval`."""
    import shutil

    import yaml

    folder.mkdir()
    for path in (ROOT / "include" / "models").glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    base = yaml.safe_load((ROOT / "include" / "models" / "breast_cancer.yaml").read_text())
    for name, approval in APPROVAL_MODELS.items():
        config = {**base, "name": name, "suite": "breast_cancer.json", "gate": {**base["gate"], "approval": approval},
                  "data": {**base["data"], "inference": f"{name}/inference"}}
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(config))
    return folder


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless system Chromium under Playwright (see tests/helpers/browser.py); `make test` installs it."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        pytest.fail("no Chromium on PATH: `make test` installs it (apt-get install chromium), or set MLOPS_CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _stop(proc: subprocess.Popen) -> None:
    """TERM the whole process group (standalone and its four components), then KILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    time.sleep(1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
