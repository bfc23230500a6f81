"""The demo's scenario, driven through the real scheduler over the REST API once the stack is up.

`mlops_training` promotes a champion per model (diabetes_progression once a person approves it over the REST
API), `mlops_deployment` serves each on a local model server (diabetes_progression in staging, then production),
demo traffic goes through those servers into the inference logs, `mlops_drift_monitor` finds the drift and
starts `mlops_retraining`, a monitor outside Airflow asks for a retraining (`mlops trigger`), the new
champions roll out, a candidate shadows the champion on live traffic, an A/B experiment of two
credit_default versions runs to a verdict, a deliberately slow candidate is refused
and rolled back, a person rejects a retrained diabetes_progression candidate, and credit_default's archive rule
archives its versions that hold no alias.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mlops_provider.demo.environments import staging_rollout
from mlops_provider.demo.experiment import ab_experiment
from mlops_provider.demo.feedback_loop import feedback_loop
from mlops_provider.demo.lifecycle import lifecycle_demo
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
from mlops_provider.demo.runs import (
    LOCAL_SERVING,
    await_deployments,
    finished,
    run_dag,
    run_ids,
    scheduled_run,
    wait_run,
)
from mlops_provider.demo.shadow import shadow_candidate
from mlops_provider.demo.sign_off import approve_in_training, reject_a_retraining
from mlops_provider.demo.summary import latest_drift_report, registry_summary, step
from mlops_provider.settings import PROJECT_DIR

if TYPE_CHECKING:
    from mlops_provider.client.airflow import AirflowClient


def run_scenario(api: AirflowClient) -> None:
    api.wait_for_dag("mlops_training", timeout=300)
    api.wait_for_dag("mlops_deployment", timeout=120)
    api.unpause("mlops_deployment")  # champions deploy on their own
    deployed = run_ids(api, "mlops_deployment")
    training = scheduled_run(api, "mlops_training")
    approve_in_training(api, training)
    finished(api, "mlops_training", wait_run(api, "mlops_training", training, 1200),
             "train, gate and promote every model")
    for line in registry_summary():
        log(line)
    every_model_has_a_champion()
    deployed = await_deployments(api, deployed)
    staging_rollout()
    drift_loop(api)
    rest_trigger()
    deployed = await_deployments(api, deployed)
    feedback_loop(api)
    shadow_candidate()
    ab_experiment(api)
    broken_candidate(api, "breast_cancer")
    reject_a_retraining(api)
    lifecycle_demo()
    for line in registry_summary():
        model, _, rest = line.partition(": ")
        step(f"registry {model}", rest.split(" (http")[0], f"{MLFLOW_URL}/#/models/{model}")
    alias_history()


def every_model_has_a_champion() -> None:
    """The rest of the demo serves and monitors each champion: a model the gate refused stops it here, with the
    gate's reason (on a machine busy with other work, the latency criterion is the one to fail)."""
    from mlops_provider.settings import model_names
    from mlops_provider.tracking import CHAMPION

    client = mlflow_client()
    for model in model_names():
        if client.get_registered_model(model).aliases.get(CHAMPION) is None:
            newest = max(client.search_model_versions(f"name = '{model}'"), key=lambda v: int(v.version))
            raise DemoError(f"{model} has no champion: the gate refused v{newest.version}: "
                            f"{newest.tags.get('mlops.gate', '(no reason recorded)')}")


def alias_history() -> None:
    """Every alias move of each model, as `mlops history MODEL` prints it."""
    from mlops_provider.history import read_history
    from mlops_provider.settings import model_names

    client = mlflow_client()
    for model in model_names():
        entries = read_history(client, model)
        for entry in entries[-6:]:
            undoes = f" (undoes {entry.undoes})" if entry.undoes else ""
            log(f"  {model} {entry.at[11:19]} {entry.alias}: v{entry.from_ or '-'} -> v{entry.to or '-'} "
                f"by {entry.actor}: {entry.reason[:80]}{undoes}")
        step(f"alias history {model}", f"{len(entries)} moves recorded (mlops history {model})",
             f"{MLFLOW_URL}/#/models/{model}")


def drift_loop(api: AirflowClient) -> None:
    """Calm traffic for breast_cancer and diabetes_progression, drifted traffic for credit_default; the monitor
    finds the drift, emits the drift event, and the scheduler starts mlops_retraining on it."""
    mlops = str(BIN / "mlops")
    for calm in ("breast_cancer", "diabetes_progression"):
        run_or_fail("demo-traffic", [mlops, "demo-traffic", calm, "--rows", "300", "--tracking-uri", MLFLOW_URL])
    run_or_fail("demo-traffic", [mlops, "demo-traffic", "credit_default", "--rows", "600", "--drift", "0.8",
                                 "--seed", str(int(time.time()) % 1000), "--tracking-uri", MLFLOW_URL])
    log("sent demo traffic: 300 calm requests each to breast_cancer and diabetes_progression, 600 drifted "
        "requests to credit_default")
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


def broken_candidate(api: AirflowClient, model: str) -> None:
    """A candidate 0.75 s slower per request than the champion, deployed by hand: the smoke test must refuse it,
    the server must roll it back, and the champion must keep serving."""
    from mlops_provider.demo.broken import register_slow_candidate

    client = mlflow_client()
    serving = client.get_registered_model(model).aliases.get(LOCAL_SERVING)
    with _into_log("slow-candidate"):  # MLflow's own prints and progress bars, not on the demo's console
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


@contextlib.contextmanager
def _into_log(step_name: str) -> Iterator[None]:
    """Run a step inside this process with its stdout and stderr in `.demo/logs/<step_name>.log`."""
    with (LOGS / f"{step_name}.log").open("a") as out, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(out):
        yield
