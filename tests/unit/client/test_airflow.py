"""AirflowClient against a real HTTP server that imitates Airflow 3: tokens, idempotency, retries, plain errors."""

from __future__ import annotations

import time

import pytest

from mlops_provider.client import AirflowClient, TriggerError
from mlops_provider.client.airflow import token_expiry
from mlops_provider.netutil import free_port
from tests.helpers.fake_airflow import PASSWORD, USER, VIEWER, VIEWER_PASSWORD, FakeAirflow

DAG = "mlops_retraining"
CONF = {"model": "credit_default", "reason": "drift", "requested_by": "monitor-x"}


def test_one_login_serves_several_triggers(airflow: FakeAirflow, client: AirflowClient) -> None:
    results = [client.trigger(DAG, CONF, dag_run_id=f"run-{i}") for i in range(3)]

    assert [r.created for r in results] == [True, True, True]
    assert results[0].state == "queued"
    assert results[0].url == f"{airflow.url}/dags/{DAG}/runs/run-0"
    assert airflow.calls["token"] == 1 and airflow.calls["trigger"] == 3
    sent = airflow.runs[(DAG, "run-0")]
    assert sent["conf"] == CONF and sent["logical_date"] is None


def test_a_token_about_to_expire_is_replaced_before_the_call(airflow: FakeAirflow, client: AirflowClient) -> None:
    airflow.token_lifetime = 20  # inside the 30 s refresh margin: never reused

    client.trigger(DAG, CONF, dag_run_id="a")
    client.trigger(DAG, CONF, dag_run_id="b")

    assert airflow.calls["token"] == 2 and airflow.calls["trigger"] == 2


def test_a_rejected_token_is_replaced_once(airflow: FakeAirflow, client: AirflowClient) -> None:
    client.trigger(DAG, CONF, dag_run_id="a")
    airflow.tokens.clear()  # e.g. the api-server restarted with a new secret

    assert client.trigger(DAG, CONF, dag_run_id="b").created
    assert airflow.calls["token"] == 2 and airflow.calls["trigger"] == 3


def test_409_means_already_triggered(airflow: FakeAirflow, client: AirflowClient) -> None:
    first = client.trigger(DAG, CONF, dag_run_id="same")
    again = client.trigger(DAG, CONF, dag_run_id="same")

    assert first.created and not again.created
    assert again.dag_run_id == "same" and again.state == "running"  # filled in by GET
    assert len(airflow.runs) == 1 and airflow.calls["get_run"] == 1


def test_503_is_retried_until_airflow_answers(airflow: FakeAirflow, client: AirflowClient) -> None:
    airflow.fail["trigger"] = 2
    airflow.fail["token"] = 1

    assert client.trigger(DAG, CONF, dag_run_id="a").created
    assert airflow.calls["trigger"] == 3 and airflow.calls["token"] == 2


def test_503_forever_gives_up_after_max_attempts(airflow: FakeAirflow, client: AirflowClient) -> None:
    airflow.fail["trigger"] = 100

    with pytest.raises(TriggerError) as raised:
        client.trigger(DAG, CONF, dag_run_id="a")

    message = str(raised.value)
    assert f"{airflow.url}/api/v2/dags/{DAG}/dagRuns" in message
    assert "4 attempt(s)" in message and "HTTP 503: Service Unavailable" in message
    assert airflow.calls["trigger"] == 4


def test_a_dropped_connection_is_retried(airflow: FakeAirflow, client: AirflowClient) -> None:
    airflow.drop["trigger"] = 2

    assert client.trigger(DAG, CONF, dag_run_id="a").created
    assert airflow.calls["trigger"] == 3


def test_a_lost_answer_is_retried_and_reported_as_already_triggered(airflow: FakeAirflow) -> None:
    airflow.slow["trigger"] = 1  # the run is created, but the answer comes after the client's timeout
    with AirflowClient(airflow.url, USER, PASSWORD, timeout=0.2, backoff=0.001) as api:
        result = api.trigger(DAG, CONF, dag_run_id="a")

    assert not result.created and result.state == "running"
    assert airflow.calls["trigger"] == 2 and len(airflow.runs) == 1


def test_no_server_gives_up_with_the_url_and_the_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with AirflowClient(url, USER, PASSWORD, max_attempts=3, backoff=0.001) as api, \
            pytest.raises(TriggerError) as raised:
        api.trigger(DAG, CONF, dag_run_id="a")

    assert f"{url}/auth/token after 3 attempt(s)" in str(raised.value)
    assert "ConnectError" in str(raised.value)


def test_400_names_the_invalid_param_and_is_not_retried(airflow: FakeAirflow, client: AirflowClient) -> None:
    with pytest.raises(TriggerError) as raised:
        client.trigger(DAG, {**CONF, "reason": "because"}, dag_run_id="a")

    assert raised.value.status == 400
    assert str(raised.value).startswith(f"Airflow rejected param 'reason' for DAG '{DAG}': "
                                        "Invalid input for param reason: 'because' is not one of")
    assert airflow.calls["trigger"] == 1 and not airflow.runs


def test_400_from_the_conf_guard_shows_its_detail(airflow: FakeAirflow, client: AirflowClient) -> None:
    with pytest.raises(TriggerError, match=r"unknown key\(s\) \['priority'\]"):
        client.trigger(DAG, {**CONF, "priority": "high"}, dag_run_id="a")
    assert airflow.calls["trigger"] == 1


def test_401_on_login_names_the_user(airflow: FakeAirflow) -> None:
    with AirflowClient(airflow.url, USER, "wrong", backoff=0.001) as api, pytest.raises(TriggerError) as raised:
        api.trigger(DAG, CONF, dag_run_id="a")

    assert str(raised.value).startswith(f"Airflow rejected the credentials of user '{USER}'")
    assert raised.value.status == 401
    assert airflow.calls["token"] == 1 and airflow.calls["trigger"] == 0


def test_401_on_the_api_after_a_fresh_login_is_token_not_accepted(airflow: FakeAirflow,
                                                                 client: AirflowClient) -> None:
    airflow.accept_tokens = False

    with pytest.raises(TriggerError, match="token not accepted") as raised:
        client.trigger(DAG, CONF, dag_run_id="a")

    assert raised.value.status == 401
    assert airflow.calls["token"] == 2 and airflow.calls["trigger"] == 2  # one new login, one repeat


def test_403_says_the_user_may_not_trigger(airflow: FakeAirflow) -> None:
    with AirflowClient(airflow.url, VIEWER, VIEWER_PASSWORD, backoff=0.001) as api, \
            pytest.raises(TriggerError) as raised:
        api.trigger(DAG, CONF, dag_run_id="a")

    assert str(raised.value).startswith(f"user '{VIEWER}' may not trigger DAG '{DAG}'")
    assert airflow.calls["trigger"] == 1


def test_404_says_the_dag_is_not_found(airflow: FakeAirflow, client: AirflowClient) -> None:
    with pytest.raises(TriggerError) as raised:
        client.trigger("mlops_retrain", CONF, dag_run_id="a")

    assert str(raised.value).startswith("DAG 'mlops_retrain' not found (is it parsed and is the name right?)")
    assert raised.value.status == 404 and airflow.calls["trigger"] == 1


def test_an_invalid_run_id_is_refused_before_any_request(airflow: FakeAirflow, client: AirflowClient) -> None:
    with pytest.raises(TriggerError, match="not a valid Airflow run id"):
        client.trigger(DAG, CONF, dag_run_id="has space")
    assert not airflow.calls


def test_wait_follows_the_run_to_its_end(airflow: FakeAirflow, client: AirflowClient) -> None:
    airflow.running_polls = 2
    client.trigger(DAG, CONF, dag_run_id="a")
    seen: list[str] = []

    assert client.wait(DAG, "a", timeout=5, poll=0.01, on_state=seen.append) == "success"
    assert seen == ["running", "success"] and airflow.calls["get_run"] == 3


def test_wait_reports_a_failed_run_and_gives_up_at_the_timeout(airflow: FakeAirflow, client: AirflowClient) -> None:
    airflow.final_state = "failed"
    client.trigger(DAG, CONF, dag_run_id="a")
    assert client.wait(DAG, "a", timeout=5, poll=0.01) == "failed"

    airflow.running_polls = 1000
    client.trigger(DAG, CONF, dag_run_id="b")
    with pytest.raises(TriggerError, match="run 'b' of DAG 'mlops_retraining' is still 'running' after 0 s"):
        client.wait(DAG, "b", timeout=0.05, poll=0.02)


def test_get_run_of_an_unknown_run(client: AirflowClient) -> None:
    with pytest.raises(TriggerError, match="run 'nope' of DAG 'mlops_retraining' not found"):
        client.get_run(DAG, "nope")


def test_from_env_reads_url_user_and_password(airflow: FakeAirflow, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_AIRFLOW_URL", airflow.url + "/")
    monkeypatch.setenv("MLOPS_AIRFLOW_USER", USER)
    monkeypatch.setenv("MLOPS_AIRFLOW_PASSWORD", PASSWORD)
    with AirflowClient.from_env() as api:
        assert api.base_url == airflow.url and api.trigger(DAG, CONF, dag_run_id="a").created

    monkeypatch.delenv("MLOPS_AIRFLOW_PASSWORD")
    with pytest.raises(TriggerError, match="set MLOPS_AIRFLOW_PASSWORD"):
        AirflowClient.from_env()


def test_token_expiry_reads_exp_without_verifying(airflow: FakeAirflow) -> None:
    token = airflow.issue_token(USER)
    assert token_expiry(token) == pytest.approx(time.time() + airflow.token_lifetime, abs=5)
    assert token_expiry("not-a-jwt") is None
    assert token_expiry("a.eyJzdWIiOiJ4In0.b") is None  # {"sub": "x"}: no exp


def test_unpause_patches_the_dag_and_names_a_user_who_may_not(airflow: FakeAirflow, client: AirflowClient) -> None:
    client.unpause(DAG)
    assert airflow.unpaused == {DAG}
    client.pause(DAG)
    assert airflow.unpaused == set()
    client.unpause(DAG)

    with AirflowClient(airflow.url, VIEWER, VIEWER_PASSWORD, max_attempts=1) as viewer, \
            pytest.raises(TriggerError, match=f"user 'viewer' may not unpause DAG '{DAG}'"):
        viewer.unpause(DAG)
    with pytest.raises(TriggerError, match="DAG 'nope' not found"):
        client.unpause("nope")


def test_list_runs_and_task_states_of_a_run(airflow: FakeAirflow, client: AirflowClient) -> None:
    assert client.list_runs(DAG) == []
    client.trigger(DAG, CONF, dag_run_id="a")
    client.trigger(DAG, CONF, dag_run_id="b")

    assert {run["dag_run_id"] for run in client.list_runs(DAG)} == {"a", "b"}
    assert client.task_states(DAG, "a") == {"validate": "success", "train": "failed"}
    with pytest.raises(TriggerError, match="not found"):
        client.task_states(DAG, "nope")


def test_wait_for_dag_returns_once_parsed_and_quotes_import_errors(airflow: FakeAirflow,
                                                                    client: AirflowClient) -> None:
    client.wait_for_dag(DAG, timeout=1, poll=0.01)
    assert airflow.calls["get_dag"] == 1

    airflow.import_errors = [{"filename": "dags/broken.py", "stack_trace": "SyntaxError: invalid syntax"}]
    with pytest.raises(TriggerError, match=r"DAG 'broken' did not appear within 0 s; import errors: .*SyntaxError"):
        client.wait_for_dag("broken", timeout=0.05, poll=0.02)
    assert airflow.calls["get_dag"] >= 2


def test_task_states_reads_every_page(airflow: FakeAirflow, client: AirflowClient) -> None:
    """A run of fifty models has 250 task instances; the API answers at most 100 per page."""
    airflow.task_states = {f"m{i:03d}.{task}": "success" for i in range(50)
                           for task in ("validate", "train", "evaluate", "register", "promote")}
    client.trigger(DAG, CONF, dag_run_id="many")
    states = client.task_states(DAG, "many")
    assert len(states) == 250 and states["m049.promote"] == "success"
