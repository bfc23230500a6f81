"""The demo's background processes (MLflow, `airflow standalone`): where they live under `.demo/`, their pid
files, starting, waiting for and stopping them, and running one-off steps with their logs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_provider.netutil import wait_http as wait_http_ok
from mlops_provider.procutil import alive, is_ours, process_stamp
from mlops_provider.settings import PROJECT_DIR

if TYPE_CHECKING:
    from mlflow import MlflowClient

DEMO_DIR = PROJECT_DIR / ".demo"
LOGS = DEMO_DIR / "logs"
AIRFLOW_HOME = DEMO_DIR / "airflow"
DATA_DIR = DEMO_DIR / "data"
AIRFLOW_PORT = int(os.environ.get("MLOPS_DEMO_AIRFLOW_PORT", "8080"))
MLFLOW_PORT = int(os.environ.get("MLOPS_DEMO_MLFLOW_PORT", "5000"))
AIRFLOW_URL = f"http://127.0.0.1:{AIRFLOW_PORT}"
MLFLOW_URL = f"http://127.0.0.1:{MLFLOW_PORT}"
WEBHOOK_PORT = int(os.environ.get("MLOPS_DEMO_WEBHOOK_PORT", "8099"))  # the demo's alert receiver
USER, PASSWORD = "admin", "admin"
BIN = Path(sys.executable).parent


class DemoError(RuntimeError):
    """A demo step failed; the message says which and where its log is."""


def log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def demo_env() -> dict[str, str]:
    """The environment of every demo process: Airflow and MLflow settings of the demo only, none of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW_", "MLOPS_"))}
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(AIRFLOW_HOME / "passwords.json"),
        "AIRFLOW__API__PORT": str(AIRFLOW_PORT),
        "AIRFLOW__API__BASE_URL": AIRFLOW_URL,
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "30",
        "MLOPS_DATA_DIR": str(DATA_DIR),
        # where the demo models' alerts go (`alerts: [{notifier: http, conn_id: demo_webhook}]`)
        "AIRFLOW_CONN_DEMO_WEBHOOK": json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{WEBHOOK_PORT}"}),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })
    return env


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pid_file(name: str) -> Path:
    return DEMO_DIR / f"{name}.pid"


def running(name: str) -> int | None:
    """The pid of the demo process `name` while it lives. A pid file whose pid is gone, or now names another
    process (after a reboot the pid may be anyone's: see procutil), is removed."""
    path = pid_file(name)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
        record = record if isinstance(record, dict) else {"pid": record}  # a bare pid, from before the stamps
        pid, stamp = int(record["pid"]), record.get("stamp")
    except (ValueError, KeyError, TypeError):
        log(f"removed the unreadable pid file {path.name}")
        path.unlink(missing_ok=True)
        return None
    if not is_ours(pid, stamp, record.get("marker") or name):
        if alive(pid):
            log(f"{path.name} names pid {pid}, which is no longer {name}: removed it, left pid {pid} alone")
        path.unlink(missing_ok=True)
        return None
    return pid


def start(name: str, cmd: list[str], port: int) -> None:
    """Start `cmd` in its own session, logging to `.demo/logs/<name>.log`; nothing when it runs already."""
    if running(name):
        log(f"{name} already running (pid {running(name)})")
        return
    if port_open(port):
        raise DemoError(f"port {port} is taken by another program; stop it or set "
                        f"MLOPS_DEMO_{name.upper()}_PORT")
    path = LOGS / f"{name}.log"
    with path.open("a") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=demo_env(), cwd=PROJECT_DIR,
                                start_new_session=True)
    record = {"pid": proc.pid, "stamp": process_stamp(proc.pid), "marker": Path(cmd[0]).name}
    pid_file(name).write_text(json.dumps(record))
    log(f"started {name} (pid {proc.pid}), log {path.relative_to(PROJECT_DIR)}")


def wait_http(url: str, name: str, timeout: float) -> None:
    """Return once `url` answers 200; DemoError when the process `name` exits first or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if not running(name):
            raise DemoError(f"{name} exited; see .demo/logs/{name}.log")
        try:
            wait_http_ok(url, timeout=min(5.0, max(deadline - time.monotonic(), 0.1)))
            return
        except RuntimeError:
            if time.monotonic() >= deadline:
                raise DemoError(f"{name} did not answer {url} within {timeout:.0f}s; "
                                f"see .demo/logs/{name}.log") from None


def run(step: str, cmd: list[str], env: dict[str, str] | None = None) -> int:
    """Run one step to its end, logging to `.demo/logs/<step>.log`; returns its exit code."""
    with (LOGS / f"{step}.log").open("a") as out:
        return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env or demo_env(),
                              cwd=PROJECT_DIR).returncode


def run_or_fail(step: str, cmd: list[str]) -> None:
    code = run(step, cmd)
    if code:
        raise DemoError(f"{step} failed (exit {code}); see {(LOGS / f'{step}.log').relative_to(PROJECT_DIR)}")


def stop(name: str) -> None:
    """TERM the process group of `name`, KILL it after 15 s, and remove its pid file. Only a process that is
    still the one started (`running`) is signalled; a stale pid file is removed."""
    pid = running(name)
    if pid is None:
        log(f"{name} is not running")
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    for _ in range(30):
        if running(name) is None:
            break
        time.sleep(0.5)
    else:
        os.killpg(pid, signal.SIGKILL)
    pid_file(name).unlink(missing_ok=True)
    log(f"stopped {name}")


def mlflow_client() -> MlflowClient:
    """A client of the demo's MLflow server (tracking and registry)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=MLFLOW_URL, registry_uri=MLFLOW_URL)
