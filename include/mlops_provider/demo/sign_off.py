"""The demo's human sign-off (`gate.approval` of diabetes_progression): one promotion approved and one rejected,
each answered over Airflow's REST API with `mlops approve` / `mlops reject` while the run waits at its approve
task; then the version's criteria table and passport."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from mlops_provider.demo.processes import AIRFLOW_URL, BIN, LOGS, PASSWORD, USER, DemoError, demo_env, log, run
from mlops_provider.demo.runs import finished, wait_run
from mlops_provider.demo.summary import step
from mlops_provider.tracking import CHAMPION, TAG_DAG_RUN

if TYPE_CHECKING:
    from mlops_provider.client.airflow import AirflowClient

SIGNED = "diabetes_progression"  # the demo model whose promotion waits for a person
# Airflow 3.3.2 retries a task answered within about a second of its pause (the executor's report of the
# pausing process arrives after the resume was queued): a person never answers that fast, the demo waits too
ANSWER_AFTER_S = 6.0


def await_request(api: AirflowClient, dag_id: str, run_id: str, model: str, timeout: float = 900) -> str:
    """Wait until the run's approve task waits for an answer; returns the version it asks about. A run that ends
    first (the gate refused the candidate, or a task failed) is an error of the demo."""
    from mlops_provider.approval import request_subject
    from mlops_provider.demo.processes import mlflow_client

    client = mlflow_client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = [r for r in api.hitl_requests(dag_id=dag_id, run_id=run_id, answered=False)
                   if (r.get("task_instance") or {}).get("state") == "awaiting_input"]
        versions = [v for v in client.search_model_versions(f"name = '{model}'")
                    if v.tags.get(TAG_DAG_RUN) == run_id]
        for request in waiting:
            for version in versions:
                if request.get("subject") == request_subject(model, version.version):
                    log(f"{dag_id} run {run_id} waits for a person to approve {model} v{version.version} "
                        f"(Required Actions: {AIRFLOW_URL}/required_actions)")
                    time.sleep(ANSWER_AFTER_S)
                    return str(version.version)
        state = api.get_run(dag_id, run_id)["state"]
        if state in ("success", "failed"):
            raise DemoError(f"{dag_id} run {run_id} ended ({state}) without asking to approve {model}; "
                            "see its tasks in the Airflow UI")
        time.sleep(3)
    raise DemoError(f"{dag_id} run {run_id} did not ask to approve {model} within {timeout:.0f}s")


def answer(verb: str, model: str, version: str, comment: str) -> None:
    """`mlops approve|reject MODEL VERSION --comment C` over the REST API, as a person would type it."""
    cmd = [str(BIN / "mlops"), verb, model, version, "--comment", comment, "--url", AIRFLOW_URL, "--user", USER]
    code = run(f"mlops-{verb}", cmd, env={**demo_env(), "MLOPS_AIRFLOW_PASSWORD": PASSWORD})
    said = (LOGS / f"mlops-{verb}.log").read_text().strip().splitlines()[-2:]
    step(f"mlops {verb} {model} {version} (REST)", said[0] if code == 0 and said else f"FAILED (exit {code})",
         f"{AIRFLOW_URL}/required_actions")
    if code:
        raise DemoError(f"mlops {verb} {model} {version} failed; see .demo/logs/mlops-{verb}.log")


def approve_in_training(api: AirflowClient, run_id: str) -> None:
    """The first training run waits at `diabetes_progression.approve`: approve it, then follow the run."""
    version = await_request(api, "mlops_training", run_id, SIGNED)
    answer("approve", SIGNED, version, "criteria table checked: rmse, r2 and both sex groups within bounds")
    show_gate(SIGNED, version)


def reject_a_retraining(api: AirflowClient) -> None:
    """A retraining asked for by hand: its candidate waits at `retrain.approve`; a person rejects it, the run
    succeeds with promote skipped, and the champion stays where it was."""
    from mlops_provider.demo.processes import mlflow_client

    client = mlflow_client()
    before = client.get_registered_model(SIGNED).aliases.get(CHAMPION)
    api.unpause("mlops_retraining")
    run_id = f"demo_signoff__{time.strftime('%Y%m%dT%H%M%S')}"
    api.trigger("mlops_retraining", {"model": SIGNED, "reason": "manual", "requested_by": "demo"},
                dag_run_id=run_id)
    log(f"triggered mlops_retraining run {run_id} for {SIGNED} (reason manual)")
    version = await_request(api, "mlops_retraining", run_id, SIGNED)
    answer("reject", SIGNED, version, "same data as the champion: nothing new to promote")
    finished(api, "mlops_retraining", wait_run(api, "mlops_retraining", run_id, 600),
             f"retrain {SIGNED}, rejected by a person")
    states = api.task_states("mlops_retraining", run_id)
    after = client.get_registered_model(SIGNED).aliases.get(CHAMPION)
    tags = client.get_model_version(SIGNED, version).tags
    ok = after == before and states.get("retrain.promote") == "skipped" and tags.get("mlops.approval") == "rejected"
    step(f"{SIGNED} v{version} rejected", f"champion stays v{after}, promote {states.get('retrain.promote')}, "
         f"recorded: {tags.get('mlops.approval')} by {tags.get('mlops.approval.by')} "
         f"({tags.get('mlops.approval.comment')})" if ok else
         f"NOT as intended: champion v{before} -> v{after}, tasks {states}, tags {tags}",
         api.run_url("mlops_retraining", run_id))
    if not ok:
        raise DemoError(f"the rejection of {SIGNED} v{version} did not leave the champion alone")
    show_gate(SIGNED, version)


def show_gate(model: str, version: str) -> None:
    """The version's criteria table (as the promote task logged it) and where its passport is."""
    from mlops_provider.demo.processes import mlflow_client
    from mlops_provider.gate import criteria_table
    from mlops_provider.passport import TAG_PASSPORT
    from mlops_provider.tracking import TAG_CRITERIA

    tags = _tags_when_written(mlflow_client(), model, version, (TAG_CRITERIA, TAG_PASSPORT))
    criteria = json.loads(tags.get(TAG_CRITERIA) or "[]")
    log(f"  criteria of {model} v{version} ({tags.get('mlops.decision', '?')}):")
    for line in criteria_table(criteria).splitlines():
        if line.strip():
            log(f"    {line}")
    if TAG_PASSPORT not in tags:
        raise DemoError(f"{model} v{version} has no passport (tag {TAG_PASSPORT}); see the approve and promote "
                        "task logs")
    step(f"passport {model} v{version}", "criteria, data, validation, approval, run, history", tags[TAG_PASSPORT])


def _tags_when_written(client: Any, model: str, version: str, names: tuple[str, ...],
                       timeout: float = 120) -> dict[str, str]:
    """The version's tags once every tag of `names` is there (the passport is written when the run ends)."""
    deadline = time.monotonic() + timeout
    while True:
        tags = dict(client.get_model_version(model, version).tags)
        if all(name in tags for name in names) or time.monotonic() > deadline:
            return tags
        time.sleep(3)
