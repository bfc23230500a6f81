"""The demo's shadow step: a candidate of credit_default scores a copy of the demo's traffic beside the champion.

Where it runs in `scenario.run_scenario`: right after `feedback_loop(api)` (the champion serves on the local target
then, `previous_champion` is the rolled-back version, and the labelled concept-drifted traffic is the interesting
kind), before `broken_candidate(...)` (which deploys by hand, and a deployment ends a shadow).

What it does and prints: `mlops shadow credit_default <candidate>` (the candidate: `previous_champion`, else the
newest version the server does not serve), `ROWS` labelled requests through the served model (the live answers
unchanged), `mlops shadow --stop`, the labels delivered by `mlops feedback`, then the shadow report (agreement with
the champion, latency of both, errors, dropped copies, realized roc_auc of both on the same labelled rows) printed
whole and logged to MLflow, with one summary line.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mlops_provider.demo.processes import BIN, DEMO_DIR, LOGS, MLFLOW_URL, DemoError, log, mlflow_client, run_or_fail
from mlops_provider.demo.summary import step
from mlops_provider.tracking import PREVIOUS, serving_alias

if TYPE_CHECKING:
    from mlops_provider.shadow import ShadowReport

MODEL = "credit_default"
ROWS = 600


def _mlops(step_name: str, *args: str) -> None:
    run_or_fail(step_name, [str(BIN / "mlops"), *args])


def _candidate(served: str) -> str:
    client = mlflow_client()
    aliases = client.get_registered_model(MODEL).aliases
    previous = aliases.get(PREVIOUS)
    if previous is not None and str(previous) != served:
        return str(previous)
    versions = sorted((int(v.version) for v in client.search_model_versions(f"name='{MODEL}'")), reverse=True)
    other = next((str(v) for v in versions if str(v) != served), None)
    if other is None:
        raise DemoError(f"{MODEL} has no version besides v{served} to shadow")
    return other


def shadow_candidate(rows: int = ROWS) -> ShadowReport:
    """Shadow a candidate of credit_default on the demo's labelled traffic and print its report (see the module
    docstring); the report."""
    from datetime import UTC, datetime, timedelta

    from mlops_provider.config import load_model_config
    from mlops_provider.demo.traffic import send_traffic
    from mlops_provider.shadow import log_shadow_report, shadow_report

    served = mlflow_client().get_registered_model(MODEL).aliases.get(serving_alias("local"))
    if served is None:
        raise DemoError(f"{MODEL} is not served locally: nothing to shadow beside")
    candidate = _candidate(str(served))
    began = datetime.now(UTC)
    _mlops("mlops-shadow-start", "shadow", MODEL, candidate, "--tracking-uri", MLFLOW_URL)
    labels = DEMO_DIR / "labels-shadow.csv"
    sent = send_traffic(MODEL, tracking_uri=MLFLOW_URL, rows=rows, seed=int(time.time()) % 1000, concept=1.0,
                        drift=0.8, labels_to=str(labels))
    log(f"sent {rows} requests to {MODEL} (answered by v{sent['version']}); v{candidate} scored a copy of each")
    _mlops("mlops-shadow-stop", "shadow", MODEL, "--stop", "--tracking-uri", MLFLOW_URL)
    _mlops("mlops-feedback-shadow", "feedback", MODEL, str(labels))
    config = load_model_config(MODEL, check_paths=False)
    report = shadow_report(config, candidate, start=began, end=datetime.now(UTC) + timedelta(minutes=1))
    run_id = log_shadow_report(mlflow_client(), config, report)
    print(report.markdown())
    agreement = "n/a" if report.agreement is None else f"{report.agreement:.1%}"
    values = "n/a" if report.shadow_value is None or report.live_value is None \
        else f"{report.shadow_value:.3f} vs {report.live_value:.3f}"
    step(f"shadow {MODEL} v{candidate} beside v{served}",
         f"{report.rows} rows shadowed, {agreement} agree, {report.metric} {values} on {report.labelled} labels, "
         f"p95 {report.shadow_p95_ms} vs {report.live_p95_ms} ms, {report.errors} failed",
         f"{MLFLOW_URL}/#/experiments/{mlflow_client().get_run(run_id).info.experiment_id}/runs/{run_id}")
    log(f"shadow report logged: run {run_id}; step logs in {LOGS}")
    return report
