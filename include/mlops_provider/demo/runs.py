"""Following DAG runs of the demo through the REST API: trigger, wait, report each step."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mlops_provider.demo.processes import MLFLOW_URL, DemoError, log, mlflow_client
from mlops_provider.demo.summary import step
from mlops_provider.tracking import CHAMPION, serving_alias

if TYPE_CHECKING:
    from mlops_provider.client.airflow import AirflowClient

LOCAL_SERVING = serving_alias("local")


def production_alias(model: str) -> str:
    """The alias of what `model` serves in production (`serving_local`, or `serving_production` for a model with
    `deploy.environments`)."""
    from mlops_provider.config import load_model_config
    from mlops_provider.environments import production

    return production(load_model_config(model, check_paths=False)).alias


def run_ids(api: AirflowClient, dag_id: str) -> set[str]:
    return {run["dag_run_id"] for run in api.list_runs(dag_id)}


def wait_run(api: AirflowClient, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
    """Follow the run until it succeeds or fails; returns the final DAG run."""
    api.wait(dag_id, run_id, timeout=timeout, poll=5)
    return api.get_run(dag_id, run_id)


def run_dag(api: AirflowClient, dag_id: str, conf: dict[str, Any] | None = None,
            timeout: float = 1200) -> dict[str, Any]:
    """Unpause, trigger, and wait for the run to finish; returns the final DAG run."""
    api.unpause(dag_id)
    run_id = f"demo__{time.strftime('%Y%m%dT%H%M%S')}"
    api.trigger(dag_id, conf or {}, dag_run_id=run_id)
    log(f"triggered {dag_id} run {run_id}; waiting for the scheduler to run it")
    return wait_run(api, dag_id, run_id, timeout)


def scheduled_run(api: AirflowClient, dag_id: str, grace: float = 30) -> str:
    """Unpause: a cron DAG then starts its latest slot by itself; returns that run's id (or, if none starts within
    `grace` seconds, that of a triggered one). One run, not two, so the machine trains each model once."""
    before = run_ids(api, dag_id)
    api.unpause(dag_id)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        new = sorted(run_ids(api, dag_id) - before)
        if new:
            log(f"unpaused {dag_id}: the scheduler started its latest slot, run {new[0]}; following it")
            return new[0]
        time.sleep(2)
    run_id = f"demo__{time.strftime('%Y%m%dT%H%M%S')}"
    api.trigger(dag_id, {}, dag_run_id=run_id)
    log(f"triggered {dag_id} run {run_id}; waiting for the scheduler to run it")
    return run_id


def finished(api: AirflowClient, dag_id: str, run: dict[str, Any], what: str) -> dict[str, Any]:
    step(f"{dag_id}: {what}", run["state"], api.run_url(dag_id, run["dag_run_id"]))
    if run["state"] != "success":
        for task, state in sorted(api.task_states(dag_id, run["dag_run_id"]).items()):
            log(f"  {task}: {state}")
        raise DemoError(f"{dag_id} failed; open the run in the Airflow UI for the task logs")
    return run


def await_deployments(api: AirflowClient, seen: set[str], timeout: float = 600) -> set[str]:
    """Wait until every model's champion is what it serves in production (`serving_local`, or `serving_production`
    for a model with environments), deployed by the mlops_deployment runs the champion events started; report each
    new run. Returns the run ids seen."""
    from mlops_provider.config import load_model_config
    from mlops_provider.environments import production
    from mlops_provider.settings import model_names

    client = mlflow_client()
    deadline = time.monotonic() + timeout
    log("waiting for mlops_deployment to serve each champion")
    while True:
        runs = [r for r in api.list_runs("mlops_deployment") if r["dag_run_id"] not in seen]
        aliases = {model: client.get_registered_model(model).aliases for model in model_names()}
        pending = {m: a.get(CHAMPION) for m, a in aliases.items() if a.get(CHAMPION) != a.get(production_alias(m))}
        busy = [r for r in runs if r["state"] not in ("success", "failed")]
        if not busy and (not pending or any(r["state"] == "failed" for r in runs)):
            break
        if time.monotonic() > deadline:
            raise DemoError(f"champions {pending} were not served within {timeout:.0f}s of their promotion")
        time.sleep(5)
    for deployment in sorted(runs, key=lambda r: r["dag_run_id"]):
        states = api.task_states("mlops_deployment", deployment["dag_run_id"])
        step("mlops_deployment: " + ", ".join(f"{t}={s}" for t, s in sorted(states.items())), deployment["state"],
             api.run_url("mlops_deployment", deployment["dag_run_id"]))
    if pending:
        raise DemoError(f"champions {pending} are not served; see the mlops_deployment runs")
    for model, alias in sorted(aliases.items()):
        config = load_model_config(model, check_paths=False)
        served = production(config)
        step(f"{model} v{alias['champion']} served locally ({served.strategy})",
             f"smoke-tested and recorded as {served.alias}", f"{served_url(model)}/invocations")
    return seen | {r["dag_run_id"] for r in runs}


def served_url(model: str) -> str:
    from mlops_provider.deploy.local import LocalTarget

    server = LocalTarget(tracking_uri=MLFLOW_URL).running(model)
    return server.url if server else "(no server runs)"


def await_new_run(api: AirflowClient, dag_id: str, before: set[str], what: str, timeout: float = 300) -> None:
    """Wait for a run of `dag_id` not in `before` (started by an asset event) and follow it to its end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in api.list_runs(dag_id) if r["dag_run_id"] not in before]
        if runs:
            finished(api, dag_id, wait_run(api, dag_id, runs[0]["dag_run_id"], 1200), what)
            return
        time.sleep(3)
    raise DemoError(f"no {dag_id} run started within {timeout:.0f}s ({what})")
