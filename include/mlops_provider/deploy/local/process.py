"""The local model server as a process: started detached, found again through its state file, stopped cleanly.

Per model, under the state dir: `<model>.json` (pid and its stamp, ports, log, tracking URI), `<model>.log` and
`<model>.lock`. The server gets an allow-listed environment (`server_env`), never the whole of a worker's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlops_provider.exceptions import DeploymentError
from mlops_provider.procutil import is_ours, process_stamp

# An Airflow task's supervisor points the task's DB settings at this marker (tasks must not reach the metadata
# DB). The server's environment keeps no Airflow setting at all (see SERVER_ENV), so it never inherits it.
DB_BLOCKED = "airflow-db-not-allowed:///"

# What a model server started from here gets of our environment: where things are (PATH, HOME, AIRFLOW_HOME, the
# venv), locale and time zone, proxies and CA bundles, the MLflow client's TLS settings, and the MLOPS_* settings
# the server reads (serving/cli.py, settings.py). Nothing else: the environment of an Airflow worker holds its
# secrets (AIRFLOW__CORE__FERNET_KEY, the JWT secret, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, AIRFLOW_CONN_*, cloud
# keys), and the server outlives the task, reads untrusted requests and loads pickled models.
SERVER_ENV = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
    "PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "VIRTUAL_ENV", "AIRFLOW_HOME",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH", "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "OMP_NUM_THREADS",
    "MLOPS_MODELS_DIR", "MLOPS_DATA_DIR", "MLOPS_EXPECTATIONS_DIR",
})
SERVER_ENV_PREFIXES = ("LC_",)
SERVER_MARKER = "mlops_provider.serving"  # in the command line of every server started here
logger = logging.getLogger(__name__)


def server_env(tracking_uri: str, environ: Mapping[str, str] | None = None, *,
               conn_id: str | None = None) -> dict[str, str]:
    """The environment of a model server started from here: the allow-listed part of ours (SERVER_ENV), the
    tracking URI, the basic-auth login of that one MLflow server when the MLflow hook holds it, and of all
    `AIRFLOW_CONN_*` only the model's own data connection `conn_id` (its inference log is written through it)."""
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if (k in SERVER_ENV or k.startswith(SERVER_ENV_PREFIXES))}
    own_connection = f"AIRFLOW_CONN_{conn_id.upper()}" if conn_id else None
    if own_connection and own_connection in source:
        env[own_connection] = source[own_connection]
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    # one OpenMP thread per server unless the worker says otherwise: a server answers small requests, and
    # scikit-learn's OpenMP threads (HistGradientBoosting) spin across every core, so a busy neighbour stalls a
    # one-row prediction for up to ~0.6 s (p95 84 -> 51 ms, max 621 -> 57 ms with two busy cores, measured here)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(mlflow_login(tracking_uri))
    return env


def mlflow_login(tracking_uri: str) -> dict[str, str]:
    """MLflow's basic-auth variables for the server at `tracking_uri`, when this process's MLflow hook registered a
    login for exactly that server (a task, inside `MLflowHook.fluent()`); else none.

    The hook keeps connection credentials out of os.environ and sends them only to their own server. A server we
    start is a new process that talks to that one server, and MLflow takes credentials only from its environment:
    so that child, and no other, gets them there. Credentials in our own environment (MLFLOW_TRACKING_USERNAME and
    the like) are not passed on: nothing says which server they belong to."""
    from mlops_provider.mlflow_auth import basic_auth_env

    return basic_auth_env(tracking_uri)


def default_state_dir() -> Path:
    from mlops_provider.settings import PROJECT_DIR

    root = os.environ.get("MLOPS_STATE_DIR")
    return Path(root) / "serving" if root else PROJECT_DIR / ".demo" / "serving"


@dataclass
class ServerHandle:
    """A running server of one model, as recorded in `<state_dir>/<model>.json`."""

    model: str
    pid: int
    host: str
    port: int
    admin_port: int
    log: str
    tracking_uri: str
    stamp: str | None = None  # procutil.process_stamp of the server: a pid alone may be anyone's after a reboot

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"


class ServerProcesses:
    """The model servers of this machine, one per model, recorded under `state_dir`."""

    def __init__(self, state_dir: Path, *, host: str, start_timeout: float, log_rows: int,
                 log_seconds: float) -> None:
        self.state_dir = state_dir
        self.host = host
        self.start_timeout = start_timeout
        self.log_rows = log_rows
        self.log_seconds = log_seconds
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, model: str, port: int, admin_port: int, tracking_uri: str,
              status: Callable[[ServerHandle], dict[str, Any]], *, conn_id: str | None = None,
              inference_log: bool = True) -> ServerHandle:
        """Start the model's server detached and wait until `status` of it names the model (`conn_id`: the
        model's data connection, the one `AIRFLOW_CONN_*` it gets; `inference_log=False`: a server whose
        requests are not the model's real traffic, such as staging's, logs none)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = self.state_dir / f"{model}.log"
        uri = tracking_uri
        cmd = [sys.executable, "-m", "mlops_provider.serving", model, "--idle", "--host", self.host,
               "--port", str(port), "--admin-port", str(admin_port), "--tracking-uri", uri,
               "--log-rows", str(self.log_rows), "--log-seconds", str(self.log_seconds)]
        if not inference_log:
            cmd.append("--no-inference-log")
        with log.open("ab") as out:  # detached: the server outlives the task that started it
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env=server_env(uri, conn_id=conn_id))
        self._children[proc.pid] = proc
        server = ServerHandle(model, proc.pid, self.host, port, admin_port, str(log), uri, process_stamp(proc.pid))
        deadline = time.monotonic() + self.start_timeout
        while True:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise DeploymentError(f"model '{model}': the local server exited with {proc.returncode}:\n{tail}")
            with contextlib.suppress(Exception):
                if status(server).get("model") == model:
                    break
            if time.monotonic() > deadline:
                self._terminate(proc)
                raise DeploymentError(f"model '{model}': the local server did not answer within "
                                      f"{self.start_timeout:.0f}s (log: {log})")
            time.sleep(0.2)
        self.state_file(model).write_text(json.dumps(asdict(server), indent=2))
        return server

    def stop(self, model: str, timeout: float = 30.0) -> bool:
        """Stop the model's server cleanly (its inference log is flushed); True when one was running. A state file
        whose pid is no longer our server's (it exited; after a reboot the pid may be anyone's) is removed, and
        that pid never signalled."""
        server = self.read_state(model)
        if server is None:
            return False
        stopped = self.alive(server)
        if stopped:
            os.kill(server.pid, signal.SIGTERM)
            self._wait_gone(server, timeout)
        else:
            logger.warning("model '%s': the server recorded in %s (pid %d) is not running; removed the stale file",
                        model, self.state_file(model), server.pid)
        self.state_file(model).unlink(missing_ok=True)
        return stopped

    def alive(self, server: ServerHandle) -> bool:
        """True while the server recorded runs: the pid is alive and still that process (see procutil)."""
        child = self._children.get(server.pid)
        if child is not None:
            return child.poll() is None
        return is_ours(server.pid, server.stamp, SERVER_MARKER)

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def _wait_gone(self, server: ServerHandle, timeout: float) -> None:
        child = self._children.pop(server.pid, None)
        if child is not None:
            try:
                child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
            return
        deadline = time.monotonic() + timeout
        while self.alive(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.alive(server):
            os.kill(server.pid, signal.SIGKILL)

    def state_file(self, model: str) -> Path:
        return self.state_dir / f"{model}.json"

    def read_state(self, model: str) -> ServerHandle | None:
        try:
            return ServerHandle(**json.loads(self.state_file(model).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    @contextlib.contextmanager
    def locked(self, model: str) -> Iterator[None]:
        """One deployment of a model at a time on this machine."""
        import fcntl

        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / f"{model}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

