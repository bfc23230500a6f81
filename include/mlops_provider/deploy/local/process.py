"""The local model server as a process: started detached, found again through its state file, stopped cleanly.

Per model, under the state dir: `<model>.json` (pid, ports, log, tracking URI), `<model>.log` and `<model>.lock`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlops_provider.exceptions import DeploymentError

# An Airflow task's supervisor points the task's DB settings at this marker (tasks must not reach the metadata
# DB). A server started from a task outlives it and is no task: it must not inherit the marker.
DB_BLOCKED = "airflow-db-not-allowed:///"


def server_env(tracking_uri: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a model server started from here: ours, minus an Airflow task's DB block."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if v != DB_BLOCKED}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


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
              status: Callable[[ServerHandle], dict[str, Any]]) -> ServerHandle:
        """Start the model's server detached and wait until `status` of it names the model."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = self.state_dir / f"{model}.log"
        uri = tracking_uri
        cmd = [sys.executable, "-m", "mlops_provider.serving", model, "--idle", "--host", self.host,
               "--port", str(port), "--admin-port", str(admin_port), "--tracking-uri", uri,
               "--log-rows", str(self.log_rows), "--log-seconds", str(self.log_seconds)]
        with log.open("ab") as out:  # detached: the server outlives the task that started it
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env=server_env(uri))
        self._children[proc.pid] = proc
        server = ServerHandle(model, proc.pid, self.host, port, admin_port, str(log), uri)
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
        """Stop the model's server cleanly (its inference log is flushed); True when one was running."""
        server = self.read_state(model)
        if server is None:
            return False
        stopped = self.alive(server)
        if stopped:
            os.kill(server.pid, signal.SIGTERM)
            self._wait_gone(server.pid, timeout)
        self.state_file(model).unlink(missing_ok=True)
        return stopped

    def alive(self, server: ServerHandle) -> bool:
        return _alive(server.pid, self._children.get(server.pid))

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def _wait_gone(self, pid: int, timeout: float) -> None:
        child = self._children.pop(pid, None)
        if child is not None:
            try:
                child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
            return
        deadline = time.monotonic() + timeout
        while _alive(pid, None) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid, None):
            os.kill(pid, signal.SIGKILL)

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


def _alive(pid: int, child: subprocess.Popen[bytes] | None) -> bool:
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
