"""`LocalTarget`: one `mlops_provider.serving` process per model (and environment) on this machine, driven over
its admin API.

The server is started detached when it is not running (pid, ports and log under the state dir: `--state-dir`,
else `$MLOPS_STATE_DIR/serving`, else `<project>/.demo/serving`; an environment before production, such as
`staging`, under `<state dir>/<environment>/`, with no inference log), and it gets back the version the registry
records as served. A deployment loads the new version beside the old one, smoke-tests it (its predictions for
holdout rows must equal the model's own, within the latency budget), then switches all traffic at once (rolling,
blue_green) or in `deploy.canary_steps` with a check between steps (canary), and unloads the old version. On any
failure the old version takes all traffic again, the new one is unloaded and tagged with the reason.

`deploy.options` (`LocalOptions`): `latency_budget_ms` (p95, default 500), `smoke_rows` (default 20),
`canary_interval_seconds` (wait at each canary step, default 0), `port` and `admin_port` (default: free ports).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict
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
from mlops_provider.deploy.local.admin import AdminClient
from mlops_provider.deploy.local.options import LocalOptions
from mlops_provider.deploy.local.process import ServerHandle, ServerProcesses, default_state_dir
from mlops_provider.deploy.smoke import SmokeCheck, model_predictions, smoke_rows, smoke_test
from mlops_provider.exceptions import DeploymentError
from mlops_provider.netutil import free_port
from mlops_provider.registry import previous_version, record_failure, record_serving, recorded_version
from mlops_provider.serving.headers import PIN_HEADER, SMOKE_HEADER
from mlops_provider.tracking import serving_alias

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig
    from mlops_provider.environments import Environment


class LocalTarget(DeploymentTarget):
    """Deploys to a local model server process per model (see the module docstring)."""

    name = "local"

    def __init__(self, *, state_dir: str | Path | None = None, tracking_uri: str | None = None,
                 host: str = "127.0.0.1", start_timeout: float = 120.0, request_timeout: float = 60.0,
                 log_rows: int = 10_000, log_seconds: float = 60.0, environment: Environment | None = None) -> None:
        self._tracking_uri = tracking_uri
        self.host = host
        self._state_root = Path(state_dir) if state_dir else default_state_dir()
        self._process_args: dict[str, Any] = {"host": host, "start_timeout": start_timeout, "log_rows": log_rows,
                                              "log_seconds": log_seconds}
        self._processes: dict[Path, ServerProcesses] = {}
        self.environment = environment
        self.admin = AdminClient(request_timeout)

    @property
    def processes(self) -> ServerProcesses:
        """The servers of this target's environment: under the state dir itself in production and in the single
        form (the paths of before environments existed), under `<state dir>/<environment>/` otherwise."""
        env = self.environment
        where = self._state_root if env is None or env.production else self._state_root / env.name
        if where not in self._processes:
            self._processes[where] = ServerProcesses(where, **self._process_args)
        return self._processes[where]

    @property
    def state_dir(self) -> Path:
        return self.processes.state_dir

    # -- the interface ---------------------------------------------------------------------------------------------

    def deploy(self, model: str, version: str, strategy: str, config: ModelConfig) -> DeploymentResult:
        check_strategy(model, strategy)
        percents = check_canary_steps(model, config.deploy.canary_steps) if strategy == "canary" else [100]
        LocalOptions.parse(model, config.deploy.options)  # refused before anything changes
        version = str(version)
        client = self._client()
        check_version(client, model, version)
        with self.processes.locked(model):
            steps: list[str] = []
            server = self.ensure_server(model, config, client, steps)
            state = self.admin.status(server)
            weights, shadowed = state["weights"], state.get("shadow")
            recorded = recorded_version(client, model, self.place)
            if weights.get(version) == 100:  # a retried task, or the record lagging behind the server
                before = previous_version(client, model, self.place) if recorded == version else recorded
                if recorded != version:
                    record_serving(client, model, version, self.place)
                    steps.append(f"recorded v{version} as {serving_alias(self.place)}")
                return self._result(model, version, strategy, True, version, before, steps,
                                    f"v{version} already serves all traffic: nothing to do")
            previous = self._settle(server, weights, version, recorded, steps)
            result = self._roll_out(client, server, config, version, strategy, previous, percents, steps)
            if shadowed is not None and self.admin.status(server).get("shadow") != shadowed:
                from mlops_provider.deploy.local.shadow import tag_shadow_ended

                tag_shadow_ended(client, model, str(shadowed), f"by the deployment of v{version}")
                steps.append(f"ended the shadow of v{shadowed} (tagged mlops.shadow)")
            return result

    def status(self, model: str, config: ModelConfig) -> DeploymentStatus:
        client = self._client()
        recorded = recorded_version(client, model, self.place)
        server = self.running(model)
        if server is None:
            return DeploymentStatus(self.name, model, False, None, {}, recorded, "no local server runs this model")
        state = self.admin.status(server)
        traffic = {str(k): int(v) for k, v in state["weights"].items() if v}
        served = max(traffic, key=lambda v: traffic[v]) if traffic else None
        return DeploymentStatus(self.name, model, bool(state["ready"]), served, traffic, recorded,
                                f"pid {server.pid} at {server.url}", {"server": asdict(server), **state})

    def rollback(self, model: str, config: ModelConfig, to_version: str | None = None) -> DeploymentResult:
        """Serve `to_version` (default: the version that served before the current one) by a blue-green switch,
        verified like any deployment."""
        target_version = to_version or previous_version(self._client(), model, self.place)
        if target_version is None:
            raise DeploymentError(f"model '{model}': no earlier version served on {self.place} to roll back to")
        result = self.deploy(model, str(target_version), "blue_green", config)
        result.message = f"rollback to v{target_version}: {result.message}"
        return result

    # -- the rollout -----------------------------------------------------------------------------------------------

    def _roll_out(self, client: MlflowClient, server: ServerHandle, config: ModelConfig, version: str,
                  strategy: str, previous: str | None, percents: list[int], steps: list[str]) -> DeploymentResult:
        model = config.name
        options = LocalOptions.parse(model, config.deploy.options)
        budget = options.latency_budget_ms
        try:
            rows = smoke_rows(config, options.smoke_rows)
        except Exception as err:  # nothing changed yet, and the candidate is not to blame
            raise DeploymentError(f"model '{model}': cannot read holdout rows for the smoke test: {err}") from err
        try:
            with self._tracking():
                expected = model_predictions(model, version, rows)
        except Exception as err:  # a broken candidate: never loaded, nothing changed
            reason = f"v{version} cannot predict the holdout rows itself: {type(err).__name__}: {err}"
            steps.append(f"failed: {reason}")
            record_failure(client, model, version, self.place, reason)
            steps.append(f"tagged v{version} mlops.deploy.{self.place}.failed")
            return self._result(model, version, strategy, False, previous, previous, steps,
                                f"v{version} was not deployed: {reason}")
        try:
            self.admin.post(server, "/admin/load", {"version": version})
            steps.append(f"loaded v{version} beside {_v(previous)} (no traffic yet)")
            self._check(server, rows, expected, budget, version, pin=True, steps=steps)
            if strategy == "canary" and previous is not None:
                self._canary(server, rows, expected, budget, version, previous, percents, options, steps)
            else:
                self.admin.post(server, "/admin/promote", {"version": version})
                how = "switched all traffic" if previous is not None else "nothing served before: gave all traffic"
                steps.append(f"{strategy}: {how} to v{version} at once")
            self._check(server, rows, expected, budget, version, pin=False, steps=steps)
        except Exception as err:
            return self._fail(client, server, config, version, strategy, previous, str(err), steps)
        if previous is not None:
            self.admin.post(server, "/admin/unload", {"version": previous})
            steps.append(f"unloaded v{previous}")
        record_serving(client, model, version, self.place, reason=f"{strategy} deployment verified")
        steps.append(f"recorded v{version} as {serving_alias(self.place)}")
        return self._result(model, version, strategy, True, version, previous, steps,
                            f"v{version} serves all traffic at {server.url} (was {_v(previous)})")

    def _canary(self, server: ServerHandle, rows: pd.DataFrame, expected: list[Any], budget: float, version: str,
                previous: str, percents: list[int], options: LocalOptions, steps: list[str]) -> None:
        interval = options.canary_interval_seconds
        for pct in percents:
            errors_before = self.admin.errors(server, version)
            weights = {version: pct, previous: 100 - pct} if pct < 100 else {version: 100}
            self.admin.post(server, "/admin/traffic", {"weights": weights})
            steps.append(f"canary: v{version} takes {pct}%")
            if pct == 100:
                return
            time.sleep(interval)
            errors = self.admin.errors(server, version) - errors_before
            if errors:
                raise DeploymentError(f"v{version} failed {errors} request(s) at {pct}% of the traffic")
            self._check(server, rows, expected, budget, version, pin=True, steps=steps)

    def _check(self, server: ServerHandle, rows: pd.DataFrame, expected: list[Any], budget: float, version: str,
               *, pin: bool, steps: list[str]) -> SmokeCheck:
        headers = {SMOKE_HEADER: "1", **({PIN_HEADER: version} if pin else {})}
        label = f"smoke test of v{version}" + (" (pinned)" if pin else " (all traffic)")
        with self.admin.http() as http:
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
                self.admin.post(server, "/admin/promote", {"version": previous})
                steps.append(f"rolled back: v{previous} takes all traffic again")
            self.admin.post(server, "/admin/unload", {"version": version})
            steps.append(f"unloaded v{version}")
        except Exception as err:  # the server itself is in trouble; say so, keep the record as it was
            steps.append(f"rollback incomplete: {err}")
            reason = f"{reason}; rollback incomplete: {err}"
        record_failure(client, model, version, self.place, reason)
        steps.append(f"tagged v{version} mlops.deploy.{self.place}.failed")
        if previous is not None and recorded_version(client, model, self.place) != previous:
            record_serving(client, model, previous, self.place, reason=f"v{version} failed: {reason}",
                           rollback=True)
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
            self.admin.post(server, "/admin/promote", {"version": keep})
            steps.append(f"v{keep} takes all traffic again (an earlier rollout had stopped half-way)")
        for other in others:
            if other != keep:
                self.admin.post(server, "/admin/unload", {"version": other})
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
        options = LocalOptions.parse(model, config.deploy.options)
        port = options.port or free_port()
        admin_port = options.admin_port or free_port(avoid=port)
        # only production's server logs its requests: monitors and retraining read that log as real traffic
        logs = self.environment is None or self.environment.production
        server = self.processes.start(model, port, admin_port, self.tracking_uri, self.admin.status,
                                      conn_id=config.data.conn_id, inference_log=logs)
        steps.append(f"started the model server (pid {server.pid}) at {server.url}, log {server.log}")
        recorded = recorded_version(client or self._client(), model, self.place)
        if recorded is not None:
            self.admin.post(server, "/admin/load", {"version": recorded})
            steps.append(f"restored v{recorded}, the version recorded as {serving_alias(self.place)}")
        return server

    def stop(self, model: str, timeout: float = 30.0) -> bool:
        """Stop the model's server cleanly (its inference log is flushed); True when one was running."""
        return self.processes.stop(model, timeout)

    def running(self, model: str) -> ServerHandle | None:
        """The model's server if one runs and answers (None otherwise)."""
        server = self.processes.read_state(model)
        if server is None or not self.processes.alive(server):
            return None
        try:
            state = self.admin.status(server)
        except Exception:
            return None
        return server if state.get("model") == model else None

    # -- MLflow --------------------------------------------------------------------------------------------------

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
        from mlops_provider.tracking import tracking_uri

        with tracking_uri(self.tracking_uri):
            yield

    def _result(self, model: str, version: str, strategy: str, success: bool, served: str | None,
                previous: str | None, steps: list[str], message: str) -> DeploymentResult:
        return DeploymentResult(self.name, model, version, strategy, success, served, previous, steps, message)


def _v(version: str | None) -> str:
    return f"v{version}" if version is not None else "nothing"
