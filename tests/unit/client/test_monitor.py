"""The monitor's cycle on a real inference log and the fake Airflow; the drift verdict is given, not computed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from mlops_provider.client import AirflowClient
from mlops_provider.client.monitor import REQUESTED_BY, monitor_once, run_monitor
from mlops_provider.inference_log import WindowFile, inference_uri, write_window
from tests.helpers.fake_airflow import FakeAirflow

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def log_traffic(config: ModelConfig, rows: int, *, at: datetime = NOW) -> None:
    import pandas as pd

    frame = pd.DataFrame({
        "x": [float(i) for i in range(rows)], "colour": ["red"] * rows, "mlops_prediction": [0] * rows,
        "mlops_version": ["3"] * rows, "mlops_timestamp": [at] * rows,
    })
    write_window(inference_uri(config), frame, start=at - timedelta(minutes=10))


class Verdict:
    """A drift check that answers like `monitoring.check_drift` and remembers what it was asked."""

    def __init__(self, drifted: bool) -> None:
        self.drifted = drifted
        self.seen: list[list[WindowFile]] = []

    def __call__(self, windows: list[WindowFile]) -> dict[str, Any]:
        self.seen.append(windows)
        columns = {"x": {"test": "ks", "score": 0.001, "threshold": 0.05, "drifted": self.drifted},
                   "colour": {"test": "chisquare", "score": 0.4, "threshold": 0.05, "drifted": False}}
        return {"model": "toy", "version": "3", "alias": "champion", "windows": [w.uri for w in windows],
                "window_start": windows[0].start.isoformat(), "rows": 60, "drifted": self.drifted,
                "result": {"drift_share": 0.5 if self.drifted else 0.0, "columns": columns,
                           "summary": "1 of 2 columns drifted" if self.drifted else "no drift"}}


def test_too_little_traffic_is_no_verdict(toy_config: ModelConfig, airflow: FakeAirflow,
                                          client: AirflowClient) -> None:
    log_traffic(toy_config, 20)
    log_traffic(toy_config, 20, at=NOW - timedelta(hours=2))  # outside the 60-minute window
    verdict = Verdict(drifted=True)

    outcome = monitor_once(toy_config, client, verdict, now=NOW)

    assert outcome.status == "not_enough_traffic" and outcome.rows == 20
    assert outcome.message == "toy: not enough traffic: 20 of 50 rows in the last 60 min"
    assert not verdict.seen and not airflow.calls


def test_no_drift_triggers_nothing(toy_config: ModelConfig, airflow: FakeAirflow, client: AirflowClient) -> None:
    log_traffic(toy_config, 30)
    log_traffic(toy_config, 30)

    outcome = monitor_once(toy_config, client, Verdict(drifted=False), now=NOW)

    assert outcome.status == "no_drift" and outcome.rows == 60
    assert outcome.message == "toy v3: 0% of columns drifted in 60 rows: no drift"
    assert not airflow.calls


def test_drift_triggers_once_per_hour(toy_config: ModelConfig, airflow: FakeAirflow, client: AirflowClient) -> None:
    airflow.models = ("toy",)
    log_traffic(toy_config, 60)
    verdict = Verdict(drifted=True)

    first = monitor_once(toy_config, client, verdict, now=NOW)
    again = monitor_once(toy_config, client, verdict, now=NOW + timedelta(minutes=20))
    log_traffic(toy_config, 60, at=NOW + timedelta(hours=1))
    next_hour = monitor_once(toy_config, client, verdict, now=NOW + timedelta(hours=1))

    assert (first.status, again.status, next_hour.status) == ("triggered", "already_triggered", "triggered")
    assert first.trigger and again.trigger and next_hour.trigger
    assert first.trigger.dag_run_id == again.trigger.dag_run_id != next_hour.trigger.dag_run_id
    assert f"triggered mlops_retraining run {first.trigger.dag_run_id}" in first.message
    assert f"(x): already triggered: run {first.trigger.dag_run_id} (running)" in again.message
    assert len(airflow.runs) == 2 and len(verdict.seen[0]) == 1
    conf = airflow.runs[("mlops_retraining", first.trigger.dag_run_id)]["conf"]
    assert set(conf) == {"model", "reason", "requested_by", "drift"}
    assert (conf["model"], conf["reason"], conf["requested_by"]) == ("toy", "drift", REQUESTED_BY)
    assert conf["drift"]["drifted_columns"] == ["x"] and conf["drift"]["drift_share"] == 0.5


def test_a_failing_cycle_is_reported_and_the_loop_goes_on(toy_config: ModelConfig, client: AirflowClient) -> None:
    log_traffic(toy_config, 60, at=datetime.now(UTC))
    out: list[str] = []
    err: list[str] = []
    slept: list[float] = []

    def broken(windows: list[WindowFile]) -> dict[str, Any]:
        raise ConnectionError("MLflow at http://127.0.0.1:5000 refused the connection")

    code = run_monitor(toy_config, client, broken, interval=7, max_cycles=2, sleep=slept.append,
                       out=out.append, err=err.append)
    assert code == 0 and slept == [7] and not out
    assert len(err) == 2 and err[0].endswith("toy: error: ConnectionError: MLflow at http://127.0.0.1:5000 "
                                             "refused the connection")

    assert run_monitor(toy_config, client, broken, interval=7, once=True, sleep=slept.append,
                       out=out.append, err=err.append) == 1
    assert run_monitor(toy_config, client, Verdict(drifted=False), interval=7, once=True,
                       sleep=slept.append, out=out.append, err=err.append) == 0
    assert slept == [7] and out[0].endswith("toy v3: 0% of columns drifted in 60 rows: no drift")


def test_a_refused_trigger_fails_the_cycle(toy_config: ModelConfig, airflow: FakeAirflow,
                                           client: AirflowClient) -> None:
    log_traffic(toy_config, 60, at=datetime.now(UTC))  # `toy` is not among the DAG's configured models
    err: list[str] = []

    assert run_monitor(toy_config, client, Verdict(drifted=True), interval=1, once=True, err=err.append) == 1
    assert "error: Airflow rejected param 'model'" in err[0]


@pytest.mark.parametrize("rows", [50])
def test_exactly_min_rows_is_enough(toy_config: ModelConfig, client: AirflowClient, rows: int) -> None:
    log_traffic(toy_config, rows)
    assert monitor_once(toy_config, client, Verdict(drifted=False), now=NOW).status == "no_drift"
