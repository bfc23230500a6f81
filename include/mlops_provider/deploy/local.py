"""The local target: one `mlops_provider.serving` process per model on this machine, driven over its admin API.

The server is started detached when it is not running (pid, ports and log under the state dir: `--state-dir`,
else `$MLOPS_STATE_DIR/serving`, else `<project>/.demo/serving`), and it gets back the version the registry
records as served. A deployment loads the new version beside the old one, smoke-tests it (its predictions for
holdout rows must equal the model's own, within the latency budget), then switches all traffic at once (rolling,
blue_green) or in `deploy.canary_steps` with a check between steps (canary), and unloads the old version. On any
failure the old version takes all traffic again, the new one is unloaded and tagged with the reason.

`deploy.options` keys read here: `latency_budget_ms` (p95, default 500), `smoke_rows` (default 20),
`canary_interval_seconds` (wait at each canary step, default 0), `port` and `admin_port` (default: free ports).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_provider.deploy.base import (
    DeploymentResult,
    DeploymentStatus,
    DeploymentTarget,
    check_canary_steps,
    check_strategy,
    check_version,
)
from mlops_provider.deploy.smoke import SmokeCheck, model_predictions, smoke_rows, smoke_test
from mlops_provider.exceptions import DeploymentError
from mlops_provider.netutil import free_port
from mlops_provider.registry import previous_version, record_failure, record_serving, recorded_version

if TYPE_CHECKING:
    import httpx
    import pandas as pd
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig

PIN_HEADER = "x-mlops-version"  # serving.app: loopback clients may pin a loaded version
SMOKE_HEADER = "x-mlops-smoke-test"  # serving.app: kept out of the inference log


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


class LocalTarget(DeploymentTarget):
    """Deploys to a local model server process per model (see the module docstring)."""

    name = "local"

    def __init__(self, *, state_dir: str | Path | None = None, tracking_uri: str | None = None,
                 host: str = "127.0.0.1", start_timeout: float = 120.0, request_timeout: float = 60.0,
                 log_rows: int = 10_000, log_seconds: float = 60.0) -> None:
        self.state_dir = Path(state_dir) if state_dir else default_state_dir()
        self._tracking_uri = tracking_uri
        self.host = host
        self.start_timeout = start_timeout
        self.request_timeout = request_timeout
        self.log_rows = log_rows
        self.log_seconds = log_seconds
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- the interface ---------------------------------------------------------------------------------------------

    def deploy(self, model: str, version: str, strategy: str, config: ModelConfig) -> DeploymentResult:
        check_strategy(model, strategy)
        percents = check_canary_steps(model, config.deploy.canary_steps) if strategy == "canary" else [100]
        version = str(version)
        client = self._client()
        check_version(client, model, version)
        with self._locked(model):
            steps: list[str] = []
            server = self.ensure_server(model, config, client, steps)
            weights = self._status(server)["weights"]
            recorded = recorded_version(client, model, self.name)
            if weights.get(version) == 100:  # a retried task, or the record lagging behind the server
                before = previous_version(client, model, self.name) if recorded == version else recorded
                if recorded != version:
                    record_serving(client, model, version, self.name)
                    steps.append(f"recorded v{version} as serving_{self.name}")
                return self._result(model, version, strategy, True, version, before, steps,
                                    f"v{version} already serves all traffic: nothing to do")
            previous = self._settle(server, weights, version, recorded, steps)
            return self._roll_out(client, server, config, version, strategy, previous, percents, steps)

    def status(self, model: str, config: ModelConfig) -> DeploymentStatus:
        client = self._client()
        recorded = recorded_version(client, model, self.name)
        server = self.running(model)
        if server is None:
            return DeploymentStatus(self.name, model, False, None, {}, recorded, "no local server runs this model")
        state = self._status(server)
        traffic = {str(k): int(v) for k, v in state["weights"].items() if v}
        served = max(traffic, key=lambda v: traffic[v]) if traffic else None
        return DeploymentStatus(self.name, model, bool(state["ready"]), served, traffic, recorded,
                                f"pid {server.pid} at {server.url}", {"server": asdict(server), **state})

    def rollback(self, model: str, config: ModelConfig, to_version: str | None = None) -> DeploymentResult:
        """Serve `to_version` (default: the version that served before the current one) by a blue-green switch,
        verified like any deployment."""
        target_version = to_version or previous_version(self._client(), model, self.name)
        if target_version is None:
            raise DeploymentError(f"model '{model}': no earlier version served on {self.name} to roll back to")
        result = self.deploy(model, str(target_version), "blue_green", config)
        result.message = f"rollback to v{target_version}: {result.message}"
        return result

    # -- the rollout -----------------------------------------------------------------------------------------------

    def _roll_out(self, client: MlflowClient, server: ServerHandle, config: ModelConfig, version: str,
                  strategy: str, previous: str | None, percents: list[int], steps: list[str]) -> DeploymentResult:
        model = config.name
        options = config.deploy.options
        budget = float(options.get("latency_budget_ms", 500))
        try:
            rows = smoke_rows(config, int(options.get("smoke_rows", 20)))
        except Exception as err:  # nothing changed yet, and the candidate is not to blame
            raise DeploymentError(f"model '{model}': cannot read holdout rows for the smoke test: {err}") from err
        try:
            with self._tracking():
                expected = model_predictions(model, version, rows)
        except Exception as err:  # a broken candidate: never loaded, nothing changed
            reason = f"v{version} cannot predict the holdout rows itself: {type(err).__name__}: {err}"
            steps.append(f"failed: {reason}")
            record_failure(client, model, version, self.name, reason)
            steps.append(f"tagged v{version} mlops.deploy.{self.name}.failed")
            return self._result(model, version, strategy, False, previous, previous, steps,
                                f"v{version} was not deployed: {reason}")
        try:
            self._admin(server, "/admin/load", {"version": version})
            steps.append(f"loaded v{version} beside {_v(previous)} (no traffic yet)")
            self._check(server, rows, expected, budget, version, pin=True, steps=steps)
            if strategy == "canary" and previous is not None:
                self._canary(server, rows, expected, budget, version, previous, percents, options, steps)
            else:
                self._admin(server, "/admin/promote", {"version": version})
                how = "switched all traffic" if previous is not None else "nothing served before: gave all traffic"
                steps.append(f"{strategy}: {how} to v{version} at once")
            self._check(server, rows, expected, budget, version, pin=False, steps=steps)
        except Exception as err:
            return self._fail(client, server, config, version, strategy, previous, str(err), steps)
        if previous is not None:
            self._admin(server, "/admin/unload", {"version": previous})
            steps.append(f"unloaded v{previous}")
        record_serving(client, model, version, self.name)
        steps.append(f"recorded v{version} as serving_{self.name}")
        return self._result(model, version, strategy, True, version, previous, steps,
                            f"v{version} serves all traffic at {server.url} (was {_v(previous)})")

    def _canary(self, server: ServerHandle, rows: pd.DataFrame, expected: list[Any], budget: float, version: str,
                previous: str, percents: list[int], options: dict[str, Any], steps: list[str]) -> None:
        interval = float(options.get("canary_interval_seconds", 0))
        for pct in percents:
            errors_before = self._errors(server, version)
            weights = {version: pct, previous: 100 - pct} if pct < 100 else {version: 100}
            self._admin(server, "/admin/traffic", {"weights": weights})
            steps.append(f"canary: v{version} takes {pct}%")
            if pct == 100:
                return
            time.sleep(interval)
            errors = self._errors(server, version) - errors_before
            if errors:
                raise DeploymentError(f"v{version} failed {errors} request(s) at {pct}% of the traffic")
            self._check(server, rows, expected, budget, version, pin=True, steps=steps)

    def _check(self, server: ServerHandle, rows: pd.DataFrame, expected: list[Any], budget: float, version: str,
               *, pin: bool, steps: list[str]) -> SmokeCheck:
        headers = {SMOKE_HEADER: "1", **({PIN_HEADER: version} if pin else {})}
        label = f"smoke test of v{version}" + (" (pinned)" if pin else " (all traffic)")
        with self._http() as http:
            def invoke(payload: dict[str, Any]) -> list[Any]:
                response = http.post(f"{server.url}/invocations", json=payload, headers=headers)
                if response.status_code != 200:
                    raise DeploymentError(f"HTTP {response.status_code}: {response.text[:500]}")
                served = response.headers.get(PIN_HEADER)
                if served != version:
                    raise DeploymentError(f"answered by v{served}, not v{version}")
                predictions: list[Any] = response.json()["predictions"]
                return predictions

            check = smoke_test(invoke, rows, expected, budget_ms=budget, label=label)
        steps.append(check.message)
        if not check.ok:
            raise DeploymentError(check.message)
        return check

    def _fail(self, client: MlflowClient, server: ServerHandle, config: ModelConfig, version: str, strategy: str,
              previous: str | None, reason: str, steps: list[str]) -> DeploymentResult:
        model = config.name
        steps.append(f"failed: {reason}")
        try:
            if previous is not None:
                self._admin(server, "/admin/promote", {"version": previous})
                steps.append(f"rolled back: v{previous} takes all traffic again")
            self._admin(server, "/admin/unload", {"version": version})
            steps.append(f"unloaded v{version}")
        except Exception as err:  # the server itself is in trouble; say so, keep the record as it was
            steps.append(f"rollback incomplete: {err}")
            reason = f"{reason}; rollback incomplete: {err}"
        record_failure(client, model, version, self.name, reason)
        steps.append(f"tagged v{version} mlops.deploy.{self.name}.failed")
        if previous is not None and recorded_version(client, model, self.name) != previous:
            record_serving(client, model, previous, self.name)
        return self._result(model, version, strategy, False, previous, previous, steps,
                            f"v{version} failed verification and was rolled back: {reason}")

    def _settle(self, server: ServerHandle, weights: dict[str, int], version: str, recorded: str | None,
                steps: list[str]) -> str | None:
        """Leave at most one other version loaded, taking all traffic unless `version` already shares it (a
        retried canary); return that version (None when nothing serves)."""
        others = {v: w for v, w in weights.items() if v != version}
        live = {v: w for v, w in others.items() if w > 0}
        if not live:
            keep = None
        elif recorded in live:
            keep = recorded
        else:
            keep = max(live, key=lambda v: live[v])
        if keep is not None and version not in weights and others[keep] != 100:
            self._admin(server, "/admin/promote", {"version": keep})
            steps.append(f"v{keep} takes all traffic again (an earlier rollout had stopped half-way)")
        for other in others:
            if other != keep:
                self._admin(server, "/admin/unload", {"version": other})
                steps.append(f"unloaded v{other} (left over from an earlier rollout)")
        return keep

    # -- the server process ----------------------------------------------------------------------------------------

    def ensure_server(self, model: str, config: ModelConfig, client: MlflowClient | None = None,
                      steps: list[str] | None = None) -> ServerHandle:
        """The model's running server; started (and given back its recorded version) when there is none."""
        steps = steps if steps is not None else []
        server = self.running(model)
        if server is not None:
            return server
        server = self._start(model, config)
        steps.append(f"started the model server (pid {server.pid}) at {server.url}, log {server.log}")
        recorded = recorded_version(client or self._client(), model, self.name)
        if recorded is not None:
            self._admin(server, "/admin/load", {"version": recorded})
            steps.append(f"restored v{recorded}, the version recorded as serving_{self.name}")
        return server

    def stop(self, model: str, timeout: float = 30.0) -> bool:
        """Stop the model's server cleanly (its inference log is flushed); True when one was running."""
        server = self._read_state(model)
        if server is None:
            return False
        stopped = _alive(server.pid, self._children.get(server.pid))
        if stopped:
            os.kill(server.pid, signal.SIGTERM)
            self._wait_gone(server.pid, timeout)
        self._state_file(model).unlink(missing_ok=True)
        return stopped

    def running(self, model: str) -> ServerHandle | None:
        """The model's server if one runs and answers (None otherwise)."""
        server = self._read_state(model)
        if server is None or not _alive(server.pid, self._children.get(server.pid)):
            return None
        try:
            state = self._status(server)
        except Exception:
            return None
        return server if state.get("model") == model else None

    def _start(self, model: str, config: ModelConfig) -> ServerHandle:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        options = config.deploy.options
        port = int(options.get("port") or free_port())
        admin_port = int(options.get("admin_port") or free_port(avoid=port))
        log = self.state_dir / f"{model}.log"
        uri = self.tracking_uri
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
                if self._status(server).get("model") == model:
                    break
            if time.monotonic() > deadline:
                self._terminate(proc)
                raise DeploymentError(f"model '{model}': the local server did not answer within "
                                      f"{self.start_timeout:.0f}s (log: {log})")
            time.sleep(0.2)
        self._state_file(model).write_text(json.dumps(asdict(server), indent=2))
        return server

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

    def _state_file(self, model: str) -> Path:
        return self.state_dir / f"{model}.json"

    def _read_state(self, model: str) -> ServerHandle | None:
        try:
            return ServerHandle(**json.loads(self._state_file(model).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    @contextlib.contextmanager
    def _locked(self, model: str) -> Iterator[None]:
        """One deployment of a model at a time on this machine."""
        import fcntl

        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / f"{model}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- HTTP and MLflow -------------------------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        import httpx

        return httpx.Client(timeout=self.request_timeout, trust_env=False)  # loopback: never through a proxy

    def _status(self, server: ServerHandle) -> dict[str, Any]:
        with self._http() as http:
            response = http.get(f"{server.admin_url}/admin/status", timeout=5)
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state

    def _admin(self, server: ServerHandle, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._http() as http:
            response = http.post(f"{server.admin_url}{path}", json=body)
        if response.status_code != 200:
            detail = response.json().get("detail", response.text) if response.content else response.reason_phrase
            raise DeploymentError(f"model '{server.model}': admin {path} {body} refused "
                                  f"(HTTP {response.status_code}): {detail}")
        result: dict[str, Any] = response.json()
        return result

    def _errors(self, server: ServerHandle, version: str) -> int:
        versions = self._status(server)["versions"]
        return next((int(v["errors"]) for v in versions if v["version"] == version), 0)

    @property
    def tracking_uri(self) -> str:
        if self._tracking_uri is None:
            import mlflow

            self._tracking_uri = mlflow.get_tracking_uri()
        return self._tracking_uri

    def _client(self) -> MlflowClient:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    @contextlib.contextmanager
    def _tracking(self) -> Iterator[None]:
        from mlops_provider.training.run import tracking_uri

        with tracking_uri(self.tracking_uri):
            yield

    def _result(self, model: str, version: str, strategy: str, success: bool, served: str | None,
                previous: str | None, steps: list[str], message: str) -> DeploymentResult:
        return DeploymentResult(self.name, model, version, strategy, success, served, previous, steps, message)


def _v(version: str | None) -> str:
    return f"v{version}" if version is not None else "nothing"


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
