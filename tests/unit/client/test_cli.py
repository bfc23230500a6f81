"""`mlops trigger` and `mlops monitor` end to end against the fake Airflow: output and exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_provider import cli
from mlops_provider.client.cli import monitor_main, trigger_main
from tests.helpers.fake_airflow import FakeAirflow

DAG = "mlops_retraining"
BASE = ["credit_default", "--reason", "manual", "--requested-by", "ops-1"]


def test_trigger_prints_the_run_and_sends_exactly_the_contract(airflow_env: FakeAirflow,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert trigger_main(BASE) == 0

    out = capsys.readouterr().out
    (key, run), = airflow_env.runs.items()
    assert out.startswith(f"triggered {DAG} run {key[1]}\n")
    assert key[1].startswith("mlops__credit_default__manual__")
    assert run["conf"] == {"model": "credit_default", "reason": "manual", "requested_by": "ops-1"}


def test_trigger_again_is_already_triggered_and_succeeds(airflow_env: FakeAirflow,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert trigger_main([*BASE, "--idempotency-key", "ticket-42"]) == 0
    capsys.readouterr()
    assert trigger_main([*BASE, "--idempotency-key", "ticket-42"]) == 0

    (run_id,) = [key[1] for key in airflow_env.runs]
    assert capsys.readouterr().out.startswith(f"already triggered: run {run_id} (running)\n")


def test_drift_json_travels_as_the_drift_object(airflow_env: FakeAirflow, tmp_path: Path) -> None:
    drift = {"drift_share": 0.62, "drifted_columns": ["income"]}
    (tmp_path / "drift.json").write_text(json.dumps(drift))

    assert trigger_main(["credit_default", "--reason", "drift", "--requested-by", "evidently",
                         "--drift-json", str(tmp_path / "drift.json")]) == 0
    (run,) = airflow_env.runs.values()
    assert run["conf"] == {"model": "credit_default", "reason": "drift", "requested_by": "evidently", "drift": drift}


@pytest.mark.parametrize(("final", "code"), [("success", 0), ("failed", 1)])
def test_wait_exits_0_only_when_the_run_succeeds(airflow_env: FakeAirflow, capsys: pytest.CaptureFixture[str],
                                                 final: str, code: int) -> None:
    airflow_env.final_state = final

    assert trigger_main([*BASE, "--wait", "--poll", "0.01"]) == code
    out = capsys.readouterr().out
    assert ": running\n" in out and out.rstrip().endswith(f"finished: {final}")


def test_wait_timeout_exits_1(airflow_env: FakeAirflow, capsys: pytest.CaptureFixture[str]) -> None:
    airflow_env.running_polls = 1000

    assert trigger_main([*BASE, "--wait", "--poll", "0.01", "--timeout", "0.05"]) == 1
    assert "is still 'running' after 0 s" in capsys.readouterr().err


def test_airflow_refusals_exit_1_in_plain_words(airflow_env: FakeAirflow, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert trigger_main(["no_such_model", *BASE[1:]]) == 1
    assert "error: Airflow rejected param 'model'" in capsys.readouterr().err

    monkeypatch.setenv("MLOPS_AIRFLOW_PASSWORD", "wrong")
    assert trigger_main(BASE) == 1
    assert "error: Airflow rejected the credentials of user 'monitor'" in capsys.readouterr().err

    monkeypatch.setenv("MLOPS_AIRFLOW_PASSWORD", "secret")
    airflow_env.dags.clear()
    assert trigger_main(BASE) == 1
    assert f"error: DAG '{DAG}' not found" in capsys.readouterr().err
    assert airflow_env.calls["trigger"] == 2


@pytest.mark.parametrize(("content", "expected"), [
    (None, "cannot read"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
])
def test_a_bad_drift_file_is_bad_usage(airflow_env: FakeAirflow, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       content: str | None, expected: str) -> None:
    path = tmp_path / "drift.json"
    if content is not None:
        path.write_text(content)

    assert trigger_main([*BASE, "--drift-json", str(path)]) == 2
    assert expected in capsys.readouterr().err
    assert not airflow_env.calls


def test_other_bad_usage_exits_2(airflow_env: FakeAirflow, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert trigger_main(["credit_default", "--reason", "because", "--requested-by", "x"]) == 2
    assert trigger_main(["credit_default", "--reason", "drift", "--requested-by", "not ok"]) == 2
    assert "--requested-by 'not ok' must be a short id" in capsys.readouterr().err
    monkeypatch.delenv("MLOPS_AIRFLOW_PASSWORD")
    assert trigger_main(BASE) == 2
    assert "set MLOPS_AIRFLOW_PASSWORD" in capsys.readouterr().err
    assert trigger_main(["--help"]) == 0
    assert "MLOPS_AIRFLOW_PASSWORD" in capsys.readouterr().out
    assert not airflow_env.calls


def test_the_mlops_script_delegates_trigger(airflow_env: FakeAirflow, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["trigger", *BASE, "--url", airflow_env.url]) == 0
    assert capsys.readouterr().out.startswith(f"triggered {DAG} run mlops__credit_default__manual__")


def test_monitor_once_without_traffic_exits_0(airflow_env: FakeAirflow, monkeypatch: pytest.MonkeyPatch,
                                              toy_model: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert monitor_main([toy_model, "--once"]) == 0
    assert f"{toy_model}: not enough traffic: 0 of 50 rows in the last 60 min" in capsys.readouterr().out
    assert not airflow_env.calls


def test_monitor_bad_usage_exits_2(airflow_env: FakeAirflow, monkeypatch: pytest.MonkeyPatch, toy_model: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert monitor_main(["no_such_model", "--once"]) == 2
    assert "model 'no_such_model' has no config file" in capsys.readouterr().err
    assert monitor_main([toy_model, "--interval", "0"]) == 2
    monkeypatch.delenv("MLOPS_AIRFLOW_PASSWORD")
    assert monitor_main([toy_model, "--once"]) == 2
    assert "set MLOPS_AIRFLOW_PASSWORD" in capsys.readouterr().err
