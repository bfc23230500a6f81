"""A person signs off promotions (`gate.approval`) on a real `airflow standalone` and a real MLflow server, answering
over the HITL REST API with `mlops approve` / `mlops reject`: approve (while someone else moved the champion),
a second answer refused, a rejection, a timeout."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from mlops_provider.client import AirflowClient
from mlops_provider.client.approval import approve_main, reject_main
from mlops_provider.tracking import (
    CHAMPION,
    PREVIOUS,
    TAG_APPROVAL,
    TAG_APPROVAL_AT,
    TAG_APPROVAL_BY,
    TAG_APPROVAL_COMMENT,
)
from tests.helpers.retraining_runs import DAG, task_states, trigger, wait_for_dag, wait_run

pytestmark = pytest.mark.e2e
APPROVE_TASK = "retrain.approve"


def _start(api: httpx.Client, model: str, run_id: str) -> None:
    created = trigger(api, run_id, {"model": model, "reason": "manual", "requested_by": "e2e-approval"})
    assert created.status_code == 200, created.text


def _await_input(api: httpx.Client, run_id: str, timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = task_states(api, run_id)
        if states.get(APPROVE_TASK) == "awaiting_input":
            # Airflow 3.3.2 race: an answer within a second of the pause re-queues the task before the scheduler
            # has processed the pausing process's exit, which it then takes for an external change and retries
            # the task (waiting for input again). A person does not answer that fast; the test waits out two
            # scheduler heartbeats.
            time.sleep(6)
            return
        if api.get(f"/dags/{DAG}/dagRuns/{run_id}").json()["state"] in ("success", "failed"):
            break
        time.sleep(2)
    raise AssertionError(f"run {run_id} did not wait at {APPROVE_TASK}: {task_states(api, run_id)}")


def _version(client: Any, model: str, run_id: str) -> Any:
    (version,) = [v for v in client.search_model_versions(f"name = '{model}'")
                  if v.tags.get("mlops.dag_run_id") == run_id]
    return version


@pytest.fixture(autouse=True)
def no_run_left_waiting(live_airflow: Any) -> Any:
    """mlops_retraining runs one run at a time: a run of this test left waiting for an answer (a failed
    assertion) would hold up every later e2e test's retraining, so it is failed at the end."""
    yield
    with live_airflow.api() as api:
        for run in api.get(f"/dags/{DAG}/dagRuns").json()["dag_runs"]:
            if run["dag_run_id"].startswith("approval_") and run["state"] in ("queued", "running"):
                api.patch(f"/dags/{DAG}/dagRuns/{run['dag_run_id']}", json={"state": "failed"})


def test_approve_reject_twice_answered_and_timeout(live_airflow: Any, mlflow_server: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow import MlflowClient

    mlflow = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    api = live_airflow.api()
    wait_for_dag(api, DAG)
    assert api.patch(f"/dags/{DAG}", json={"is_paused": False}).status_code == 200
    monkeypatch.setenv("MLOPS_AIRFLOW_URL", live_airflow.url)
    monkeypatch.setenv("MLOPS_AIRFLOW_USER", live_airflow.user)
    monkeypatch.setenv("MLOPS_AIRFLOW_PASSWORD", live_airflow.password)
    stamp = int(time.time())

    # 1. the run waits at approve; the request shows the evaluation
    first = f"approval_ok__{stamp}"
    _start(api, "signed_cancer", first)
    _await_input(api, first)
    candidate = _version(mlflow, "signed_cancer", first)
    with AirflowClient(live_airflow.url, live_airflow.user, live_airflow.password) as airflow:
        (request,) = [r for r in airflow.hitl_requests(dag_id=DAG, run_id=first)]
    assert request["subject"] == f"Promote signed_cancer v{candidate.version} to champion?"
    assert f"| candidate | v{candidate.version} |" in request["body"] and "| champion | none yet | |" in request["body"]
    assert "[MLflow version](" in request["body"] and "validation:" in request["body"]
    assert request["assigned_users"] == [{"id": live_airflow.user, "name": live_airflow.user}]
    assert mlflow.get_registered_model("signed_cancer").aliases.get(CHAMPION) is None

    # someone else makes another version champion while the approval is pending: promote must judge against it
    other = mlflow.create_model_version("signed_cancer", candidate.source, run_id=candidate.run_id,
                                        model_id=candidate.source.removeprefix("models:/"))
    mlflow.set_registered_model_alias("signed_cancer", CHAMPION, other.version)

    assert approve_main(["signed_cancer", candidate.version]) == 0
    out = capsys.readouterr().out
    assert f"signed_cancer v{candidate.version} approved by {live_airflow.user}" in out

    # a second answer to the same request is refused: by the CLI (exit 1) and by Airflow's API (409)
    assert reject_main(["signed_cancer", candidate.version, "--comment", "too late"]) == 1
    assert "answered already: Approve by e2e" in capsys.readouterr().err
    path = f"/dags/{DAG}/dagRuns/{first}/taskInstances/{APPROVE_TASK}/-1/hitlDetails"
    again = api.patch(path, json={"chosen_options": ["Reject"], "params_input": {}})
    assert again.status_code == 409, again.text

    assert wait_run(api, first, timeout=300) == "success", task_states(api, first)
    model = mlflow.get_registered_model("signed_cancer")
    assert model.aliases[CHAMPION] == candidate.version and model.aliases[PREVIOUS] == other.version
    tags = mlflow.get_model_version("signed_cancer", candidate.version).tags
    assert tags[TAG_APPROVAL] == "approved" and tags[TAG_APPROVAL_BY] == live_airflow.user
    assert TAG_APPROVAL_AT in tags and TAG_APPROVAL_COMMENT not in tags
    assert tags["mlops.champion_at_decision"] == other.version, "promote did not score against the new champion"

    # 2. a rejection: champion untouched, who and why on the version, promote skipped, the run succeeds
    second = f"approval_no__{stamp}"
    _start(api, "signed_cancer", second)
    _await_input(api, second)
    rejected = _version(mlflow, "signed_cancer", second)
    assert reject_main(["signed_cancer", rejected.version, "--comment", "holdout too small to tell"]) == 0
    assert wait_run(api, second, timeout=300) == "success", task_states(api, second)
    assert task_states(api, second)["retrain.promote"] == "skipped"
    assert mlflow.get_registered_model("signed_cancer").aliases[CHAMPION] == candidate.version
    tags = mlflow.get_model_version("signed_cancer", rejected.version).tags
    assert (tags[TAG_APPROVAL], tags[TAG_APPROVAL_BY], tags[TAG_APPROVAL_COMMENT]) == (
        "rejected", live_airflow.user, "holdout too small to tell")
    # what the person judged is on the version (recorded before asking), and so is the refusal
    assert tags["mlops.decision"] == "rejected" and "holdout too small to tell" in tags["mlops.gate"]
    assert [c["name"] for c in json.loads(tags["mlops.criteria"])] == ["roc_auc"]
    assert "passport/passport.html" in tags["mlops.passport"], "a rejected version gets its passport too"
    assert approve_main(["signed_cancer", rejected.version]) == 1  # nothing waits any more
    assert "answered already: Reject by e2e" in capsys.readouterr().err

    # 3. nobody answers within hurried_cancer's timeout (~7 s): recorded, the task fails, no champion
    third = f"approval_late__{stamp}"
    _start(api, "hurried_cancer", third)
    assert wait_run(api, third, timeout=150) == "failed"
    states = task_states(api, third)
    assert (states[APPROVE_TASK], states["retrain.promote"]) == ("failed", "upstream_failed"), states
    late = _version(mlflow, "hurried_cancer", third)
    tags = mlflow.get_model_version("hurried_cancer", late.version).tags
    assert tags[TAG_APPROVAL] == "timed_out" and tags[TAG_APPROVAL_COMMENT].startswith("no answer within")
    assert tags["mlops.decision"] == "rejected" and tags["mlops.gate"].startswith("not approved: no answer")
    assert mlflow.get_registered_model("hurried_cancer").aliases.get(CHAMPION) is None
    assert approve_main(["hurried_cancer", late.version]) == 1
    assert "no longer waits (its task is failed" in capsys.readouterr().err
