"""The drift monitor that runs outside Airflow: check a model's recent inference traffic, trigger retraining on drift.

One cycle (`monitor_once`) reads the inference windows of the last `drift.window_minutes`, skips when they hold
fewer than `drift.min_rows` rows, runs the drift engine against the served version's reference profile, and on
drift triggers `mlops_retraining` with reason `drift`. The idempotency key is model + reason + UTC hour, so
repeated cycles within the hour are answered "already triggered" instead of starting more runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.client.trigger import RETRAINING_DAG, trigger_retraining
from mlops_provider.exceptions import MlopsError
from mlops_provider.inference_log import WindowFile, count_rows, inference_uri, recent_windows
from mlops_provider.monitoring import drift_summary

if TYPE_CHECKING:
    from mlops_provider.client.airflow import AirflowClient, TriggerResult
    from mlops_provider.config import ModelConfig
    from mlops_provider.xcom import DriftCheck

REQUESTED_BY = "mlops-monitor"
DriftChecker = Callable[[list[WindowFile]], "DriftCheck"]


@dataclass(frozen=True)
class MonitorOutcome:
    """What one cycle found: `not_enough_traffic`, `no_drift`, `triggered` or `already_triggered`."""

    status: str
    message: str
    rows: int = 0
    trigger: TriggerResult | None = None


def mlflow_drift_check(config: ModelConfig, tracking_uri: str) -> DriftChecker:
    """`monitoring.check_drift` against the MLflow server at `tracking_uri` (connected on first use)."""
    clients: list[Any] = []

    def check(windows: list[WindowFile]) -> DriftCheck:
        from mlops_provider.monitoring import check_drift

        if not clients:
            from mlflow import MlflowClient

            clients.append(MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri))
        return check_drift(config, clients[0], windows)

    return check


def monitor_once(config: ModelConfig, airflow: AirflowClient, drift_check: DriftChecker, *,
                 now: datetime | None = None) -> MonitorOutcome:
    """One monitoring cycle for the model of `config`; triggers retraining when the traffic drifted."""
    now = now or datetime.now(UTC)
    name, minutes, needed = config.name, config.drift.window_minutes, config.drift.min_rows
    windows = recent_windows(inference_uri(config), minutes=minutes, now=now, conn_id=config.data.conn_id)
    rows = count_rows(windows, conn_id=config.data.conn_id) if windows else 0
    if rows < needed:
        return MonitorOutcome("not_enough_traffic", f"{name}: not enough traffic: {rows} of {needed} rows "
                              f"in the last {minutes} min", rows)
    check = drift_check(windows)
    summary = drift_summary(check)
    seen = f"{name} v{summary['version']}: {summary['drift_share']:.0%} of columns drifted in {rows} rows"
    if not check["drifted"]:
        return MonitorOutcome("no_drift", f"{seen}: no drift", rows)
    result = trigger_retraining(airflow, name, "drift", REQUESTED_BY, drift=summary, now=now)
    columns = ", ".join(summary["drifted_columns"]) or "none"
    if result.created:
        return MonitorOutcome("triggered", f"{seen} ({columns}): triggered {RETRAINING_DAG} run "
                              f"{result.dag_run_id} ({result.url})", rows, result)
    return MonitorOutcome("already_triggered", f"{seen} ({columns}): already triggered: run "
                          f"{result.dag_run_id} ({result.state})", rows, result)


def run_monitor(config: ModelConfig, airflow: AirflowClient, drift_check: DriftChecker, *, interval: float,
                once: bool = False, max_cycles: int | None = None, sleep: Callable[[float], None] = time.sleep,
                out: Callable[[str], None] = print, err: Callable[[str], None] | None = None) -> int:
    """Run cycles every `interval` seconds (one with `once`); returns the exit code.

    A failing cycle (MLflow or Airflow unreachable, no champion yet) is reported and, unless `once`, the next
    cycle runs as planned: a monitor must outlive the outages it may be needed for.
    """
    err = err or (lambda line: print(line, file=sys.stderr))
    cycles = 0
    while True:
        try:
            outcome = monitor_once(config, airflow, drift_check)
            out(f"{_stamp()} {outcome.message}")
            code = 0
        except Exception as error:  # reported; the next cycle runs anyway
            detail = str(error) if isinstance(error, MlopsError) else f"{type(error).__name__}: {error}"
            err(f"{_stamp()} {config.name}: error: {detail}")
            code = 1
        cycles += 1
        if once or (max_cycles is not None and cycles >= max_cycles):
            return code if once else 0
        sleep(interval)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
