"""`mlops rollback` against the fake Airflow: the conf it sends, waiting to success and failure, refusals."""

from __future__ import annotations

import pytest

from mlops_provider import cli
from mlops_provider.client.cli import rollback_main
from tests.helpers.fake_airflow import FakeAirflow

DAG = "mlops_deployment"


@pytest.fixture
def deployments(airflow_env: FakeAirflow) -> FakeAirflow:
    airflow_env.dags.add(DAG)
    return airflow_env


def test_rollback_sends_model_and_version_to_the_deployment_dag(deployments: FakeAirflow,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert rollback_main(["credit_default", "--to", "3", "--no-wait"]) == 0

    ((dag, run_id), run), = deployments.runs.items()
    assert dag == DAG
    assert run["conf"] == {"model": "credit_default", "version": "3"}
    assert run_id.startswith("mlops__credit_default__rollback__v3__")
    out = capsys.readouterr().out
    assert out.startswith(f"triggered {DAG} run {run_id}: credit_default -> v3\n")
    assert f"{deployments.url}/dags/{DAG}/runs/{run_id}" in out
    assert deployments.calls["get_run"] == 0  # --no-wait does not follow the run


@pytest.mark.parametrize(("final", "code"), [("success", 0), ("failed", 1)])
def test_rollback_waits_for_the_run_and_exits_by_its_state(deployments: FakeAirflow,
                                                           capsys: pytest.CaptureFixture[str],
                                                           final: str, code: int) -> None:
    deployments.final_state = final
    deployments.running_polls = 2

    assert cli.main(["rollback", "breast_cancer", "--to", "12", "--poll", "0.01"]) == code

    (run_id,) = [key[1] for key in deployments.runs]
    out = capsys.readouterr().out
    assert f"run {run_id}: running\n" in out
    assert f"run {run_id} finished: {final}: " in out
    assert out.rstrip().endswith(f"/dags/{DAG}/runs/{run_id}")
    assert deployments.calls["get_run"] == 3  # two "running" answers, then the final state


def test_wait_timeout_exits_1(deployments: FakeAirflow, capsys: pytest.CaptureFixture[str]) -> None:
    deployments.running_polls = 1000

    assert rollback_main(["credit_default", "--to", "3", "--poll", "0.01", "--timeout", "0.05"]) == 1
    assert "is still 'running'" in capsys.readouterr().err


def test_a_model_airflow_refuses_exits_2_naming_it(deployments: FakeAirflow,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert rollback_main(["no_such_model", "--to", "3"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: Airflow rejected param 'model' for DAG 'mlops_deployment'")
    assert "no_such_model" in err
    assert deployments.runs == {}


@pytest.mark.parametrize("argv", [["credit_default", "--to", "v3"], ["credit_default", "--to", "3.1"],
                                  ["credit_default"], ["Credit-Default", "--to", "3"]])
def test_bad_arguments_exit_2_without_asking_airflow(deployments: FakeAirflow, capsys: pytest.CaptureFixture[str],
                                                     argv: list[str]) -> None:
    assert rollback_main(argv) == 2

    assert "error:" in capsys.readouterr().err
    assert deployments.calls["trigger"] == 0


def test_missing_deployment_dag_and_missing_password_exit_2(airflow_env: FakeAirflow,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert rollback_main(["credit_default", "--to", "3"]) == 2  # the fake has no mlops_deployment by default
    assert f"error: DAG '{DAG}' not found" in capsys.readouterr().err

    monkeypatch.delenv("MLOPS_AIRFLOW_PASSWORD")
    assert rollback_main(["credit_default", "--to", "3"]) == 2
    assert "error: no Airflow password" in capsys.readouterr().err
