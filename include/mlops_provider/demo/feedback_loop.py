"""The demo's production feedback loop, on credit_default once its champion serves.

The world changes (concept drift: small-business and medical loans now default by debt-to-income and late
payments), traffic keeps coming, and the labels arrive late. `mlops_performance_monitor` first estimates the
champion's performance without labels (CBPE), then, once `mlops feedback` delivered them, measures it: it has
degraded below the policy, so the demo's webhook is alerted, the previous champion is rolled back in, and
`mlops_retraining` trains on the fresh labelled rows. The new champion is then measured on the next labelled
window, beside the old one.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from mlops_provider.demo.processes import BIN, DEMO_DIR, LOGS, MLFLOW_URL, DemoError, log, mlflow_client, run
from mlops_provider.demo.runs import await_deployments, await_new_run, finished, production_alias, run_dag, run_ids
from mlops_provider.demo.summary import step
from mlops_provider.tracking import CHAMPION, TAG_DATA_SOURCES, TAG_DIGEST, TAG_MONITOR

if TYPE_CHECKING:
    from mlops_provider.client.airflow import AirflowClient

MODEL = "credit_default"
ROWS = 1500


def _mlops(step_name: str, *args: str) -> None:
    code = run(step_name, [str(BIN / "mlops"), *args])
    if code:
        raise DemoError(f"mlops {args[0]} failed (exit {code}); see .demo/logs/{step_name}.log")


def _served() -> str:
    version = mlflow_client().get_registered_model(MODEL).aliases.get(production_alias(MODEL))
    if version is None:
        raise DemoError(f"{MODEL} is not served locally")
    return str(version)


def _check(version: str) -> dict[str, Any]:
    """The version's last production check (the monitor's `mlops.monitor` tag)."""
    tag = mlflow_client().get_model_version(MODEL, version).tags.get(TAG_MONITOR)
    if not tag:
        raise DemoError(f"{MODEL} v{version} has no production check (see mlops_performance_monitor's log)")
    return dict(json.loads(tag))


def _window(seed: int, name: str) -> str:
    """Concept-drifted traffic through the served model; its labels written aside, not delivered yet."""
    labels = DEMO_DIR / f"labels-{name}.csv"
    _mlops("demo-traffic", "demo-traffic", MODEL, "--rows", str(ROWS), "--concept", "1", "--drift", "0.8",
           "--seed", str(seed),
           "--labels", str(labels), "--tracking-uri", MLFLOW_URL)
    return str(labels)


def _monitor(api: AirflowClient, what: str) -> None:
    finished(api, "mlops_performance_monitor", run_dag(api, "mlops_performance_monitor", timeout=900), what)


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def feedback_loop(api: AirflowClient) -> None:
    old = _served()
    seed = int(time.time()) % 1000
    first = _window(seed, "window-1")
    log(f"sent {ROWS} requests to {MODEL} v{old} after the world changed (concept drift); labels not known yet")
    _monitor(api, "before labels: estimate performance (CBPE)")
    before = _check(old)
    step(f"{MODEL} v{old} before labels", f"estimated roc_auc {_fmt(before['estimated'])} (CBPE) vs holdout "
         f"{_fmt(before['baseline'])}; realized: no labels yet ({before['verdict']})")

    _mlops("mlops-feedback", "feedback", MODEL, first)
    step(f"mlops feedback {MODEL} (window 1)", f"{ROWS} labels delivered to the model server's /feedback",
         str(LOGS / "mlops-feedback.log"))
    retrainings, deployments = run_ids(api, "mlops_retraining"), run_ids(api, "mlops_deployment")
    api.unpause("mlops_retraining")
    _monitor(api, "realized performance on the labels: judge, alert, roll back, retrain")
    after = _check(old)
    step(f"{MODEL} v{old} realized on {after['n_labels']} labels",
         f"roc_auc {_fmt(after['realized'])} (estimated {_fmt(after['estimated'])}, holdout "
         f"{_fmt(after['baseline'])}): {after['verdict']} -> {', '.join(after['actions']) or 'nothing'}")
    if after["verdict"] != "degraded":
        raise DemoError(f"{MODEL} v{old} was expected to degrade on the concept-drifted labels")
    alerts = (LOGS / "webhook.log").read_text().strip().splitlines()[1:]
    for line in alerts[-3:]:
        log(f"  webhook: {line}")
    step("alerts delivered to the demo webhook", f"{len(alerts)} so far", str(LOGS / "webhook.log"))

    await_new_run(api, "mlops_retraining", retrainings, "retrain on fresh labelled data (reason performance)")
    await_deployments(api, deployments)
    client = mlflow_client()
    new = str(client.get_registered_model(MODEL).aliases[CHAMPION])
    first_digest = client.get_model_version(MODEL, "1").tags.get(TAG_DIGEST)
    fresh = client.get_model_version(MODEL, new)
    step(f"{MODEL} v{new} trained on fresh data", f"digest {fresh.tags.get(TAG_DIGEST)} (v1: {first_digest}); "
         f"{client.get_run(str(fresh.run_id)).data.tags.get(TAG_DATA_SOURCES, '')[:160]}")

    second = _window(seed + 1, "window-2")
    _mlops("mlops-feedback", "feedback", MODEL, second)
    _monitor(api, "realized performance of the new champion on the next window")
    now = _check(new)
    step(f"{MODEL} realized roc_auc, new traffic", f"v{new}: {_fmt(now['realized'])} on window 2 "
         f"({now['n_labels']} labels) vs v{old}: {_fmt(after['realized'])} on window 1 (estimated before labels: "
         f"{_fmt(before['estimated'])})")

