"""The demo's scenario, driven through the real scheduler over the REST API once the stack is up.

`mlops_training` promotes a champion per model, `mlops_deployment` serves each on a local model server,
demo traffic goes through those servers into the inference logs, `mlops_drift_monitor` finds the drift and
starts `mlops_retraining`, a monitor outside Airflow asks for a retraining (`mlops trigger`), the new
champions roll out, and a deliberately slow candidate is refused and rolled back.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mlops_provider.demo.processes import (
    AIRFLOW_URL,
    BIN,
    LOGS,
    MLFLOW_URL,
    PASSWORD,
    USER,
    DemoError,
    demo_env,
    log,
    mlflow_client,
    run,
    run_or_fail,
)
from mlops_provider.demo.summary import latest_drift_report, registry_summary, step
from mlops_provider.settings import PROJECT_DIR
from mlops_provider.tracking import CHAMPION, serving_alias

LOCAL_SERVING = serving_alias("local")

if TYPE_CHECKING:
    from mlops_provider.client.airflow import AirflowClient


def run_scenario(api: AirflowClient) -> None:
    api.wait_for_dag("mlops_training", timeout=300)
    api.wait_for_dag("mlops_deployment", timeout=120)
    api.unpause("mlops_deployment")  # champions deploy on their own
    deployed = run_ids(api, "mlops_deployment")
    finished(api, "mlops_training", follow_schedule(api, "mlops_training"), "train, gate and promote both models")
    for line in registry_summary():
        log(line)
    deployed = await_deployments(api, deployed)
    drift_loop(api)
    rest_trigger()
    deployed = await_deployments(api, deployed)
    broken_candidate(api, "breast_cancer")
    for line in registry_summary():
        model, _, rest = line.partition(": ")
        step(f"registry {model}", rest.split(" (http")[0], f"{MLFLOW_URL}/#/models/{model}")


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


def follow_schedule(api: AirflowClient, dag_id: str, timeout: float = 1200, grace: float = 30) -> dict[str, Any]:
    """Unpause: a cron DAG then starts its latest slot by itself; follow that run (or, if none starts within
    `grace` seconds, trigger one). One run, not two, so the machine trains each model once."""
    before = run_ids(api, dag_id)
    api.unpause(dag_id)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        new = sorted(run_ids(api, dag_id) - before)
        if new:
            log(f"unpaused {dag_id}: the scheduler started its latest slot, run {new[0]}; following it")
            return wait_run(api, dag_id, new[0], timeout)
        time.sleep(2)
    return run_dag(api, dag_id, timeout=timeout)


def finished(api: AirflowClient, dag_id: str, run: dict[str, Any], what: str) -> dict[str, Any]:
    step(f"{dag_id}: {what}", run["state"], api.run_url(dag_id, run["dag_run_id"]))
    if run["state"] != "success":
        for task, state in sorted(api.task_states(dag_id, run["dag_run_id"]).items()):
            log(f"  {task}: {state}")
        raise DemoError(f"{dag_id} failed; open the run in the Airflow UI for the task logs")
    return run


def drift_loop(api: AirflowClient) -> None:
    """Calm traffic for breast_cancer, drifted traffic for credit_default; the monitor finds the drift,
    emits the drift event, and the scheduler starts mlops_retraining on it."""
    mlops = str(BIN / "mlops")
    run_or_fail("demo-traffic", [mlops, "demo-traffic", "breast_cancer", "--rows", "300", "--tracking-uri",
                                 MLFLOW_URL])
    run_or_fail("demo-traffic", [mlops, "demo-traffic", "credit_default", "--rows", "600", "--drift", "0.8",
                                 "--seed", str(int(time.time()) % 1000), "--tracking-uri", MLFLOW_URL])
    log("sent demo traffic: 300 calm requests to breast_cancer, 600 drifted requests to credit_default")
    before = run_ids(api, "mlops_retraining")
    api.unpause("mlops_retraining")
    finished(api, "mlops_drift_monitor", run_dag(api, "mlops_drift_monitor"), "detect drift, report, emit event")
    step("drift report (Evidently) for credit_default", "logged to MLflow", latest_drift_report("credit_default"))
    log("waiting for the drift event to start mlops_retraining")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        runs = [r for r in api.list_runs("mlops_retraining") if r["dag_run_id"] not in before]
        if runs:
            finished(api, "mlops_retraining", wait_run(api, "mlops_retraining", runs[0]["dag_run_id"], 1200),
                     "retrain credit_default on the drift event")
            return
        time.sleep(3)
    raise DemoError("no mlops_retraining run started within 180s of the drift event "
                    "(was drift found? see the emit_drift_event task of mlops_drift_monitor)")


def rest_trigger() -> None:
    """What a monitor outside Airflow does: `mlops trigger` over the REST API, following the run."""
    cmd = [str(BIN / "mlops"), "trigger", "breast_cancer", "--reason", "performance", "--requested-by",
           "demo-monitor", "--wait", "--timeout", "900", "--url", AIRFLOW_URL, "--user", USER]
    code = run("mlops-trigger", cmd, env={**demo_env(), "MLOPS_AIRFLOW_PASSWORD": PASSWORD})
    trigger_log = LOGS / "mlops-trigger.log"
    last = trigger_log.read_text().strip().splitlines()[-1:] or ["(no output)"]
    step("mlops trigger breast_cancer --reason performance (REST)",
         "success" if code == 0 else f"FAILED (exit {code}): {last[0]}", f"{AIRFLOW_URL}/dags/mlops_retraining")
    if code:
        raise DemoError(f"mlops trigger failed; see {trigger_log.relative_to(PROJECT_DIR)}")


def await_deployments(api: AirflowClient, seen: set[str], timeout: float = 600) -> set[str]:
    """Wait until every model's champion is what its local server serves (`serving_local`), deployed by the
    mlops_deployment runs the champion events started; report each new run. Returns the run ids seen."""
    from mlops_provider.config import load_model_config
    from mlops_provider.settings import model_names

    client = mlflow_client()
    deadline = time.monotonic() + timeout
    log("waiting for mlops_deployment to serve each champion")
    while True:
        runs = [r for r in api.list_runs("mlops_deployment") if r["dag_run_id"] not in seen]
        aliases = {model: client.get_registered_model(model).aliases for model in model_names()}
        pending = {m: a.get(CHAMPION) for m, a in aliases.items() if a.get(CHAMPION) != a.get(LOCAL_SERVING)}
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
        step(f"{model} v{alias['champion']} served locally ({config.deploy.strategy})",
             "smoke-tested and recorded as serving_local", f"{served_url(model)}/invocations")
    return seen | {r["dag_run_id"] for r in runs}


def served_url(model: str) -> str:
    from mlops_provider.deploy.local import LocalTarget

    server = LocalTarget(tracking_uri=MLFLOW_URL).running(model)
    return server.url if server else "(no server runs)"


def broken_candidate(api: AirflowClient, model: str) -> None:
    """A candidate 0.75 s slower per request than the champion, deployed by hand: the smoke test must refuse it,
    the server must roll it back, and the champion must keep serving."""
    from mlops_provider.demo.broken import register_slow_candidate

    client = mlflow_client()
    serving = client.get_registered_model(model).aliases.get(LOCAL_SERVING)
    version = register_slow_candidate(model, tracking_uri=MLFLOW_URL, seconds=0.75)
    log(f"registered {model} v{version}: v{serving} made 0.75 s slower per request; deploying it by hand")
    deployment = run_dag(api, "mlops_deployment", {"model": model, "version": version}, timeout=600)
    after = client.get_registered_model(model).aliases.get(LOCAL_SERVING)
    reason = client.get_model_version(model, version).tags.get("mlops.deploy.local.failed", "")
    ok = deployment["state"] == "failed" and after == serving and reason
    step(f"broken candidate {model} v{version} (slow)",
         f"refused and rolled back as intended, v{after} still serves: {reason}" if ok
         else f"NOT rolled back: run {deployment['state']}, serving v{after}",
         api.run_url("mlops_deployment", deployment["dag_run_id"]))
    if not ok:
        raise DemoError(f"the slow candidate {model} v{version} was not rolled back")
