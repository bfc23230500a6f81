"""An experiment's verdict in MLflow: `mlops.experiment.*` tags on both versions, the report on the challenger's
training run."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlops_provider.experiments.report import html_report, markdown_report
from mlops_provider.tracking import (
    EXPERIMENT_REPORT_HTML,
    EXPERIMENT_REPORT_MD,
    TAG_EXPERIMENT_DECISION,
    TAG_EXPERIMENT_EFFECT,
    TAG_EXPERIMENT_INTERVAL,
    TAG_EXPERIMENT_P_VALUE,
    TAG_EXPERIMENT_REASON,
    TAG_EXPERIMENT_RESULT,
    TAG_EXPERIMENT_ROLE,
    TAG_EXPERIMENT_RUN,
    TAG_EXPERIMENT_STATUS,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient


def result_tags(result: dict[str, Any], *, role: str, dag_run_id: str) -> dict[str, str]:
    comparison = result.get("comparison") or {}
    text = json.dumps(result, separators=(",", ":"), default=str)
    tags = {TAG_EXPERIMENT_ROLE: role, TAG_EXPERIMENT_RUN: dag_run_id, TAG_EXPERIMENT_STATUS: "decided",
            TAG_EXPERIMENT_DECISION: result["decision"], TAG_EXPERIMENT_REASON: result["reason"][:5000],
            TAG_EXPERIMENT_RESULT: text if len(text) <= 5000 else json.dumps(
                {k: result[k] for k in ("decision", "reason", "horizon", "comparison")}, default=str)[:5000]}
    if comparison:
        tags[TAG_EXPERIMENT_EFFECT] = f"{comparison['effect']:.6g}"
        tags[TAG_EXPERIMENT_INTERVAL] = f"[{comparison['ci_low']:.6g}, {comparison['ci_high']:.6g}]"
        tags[TAG_EXPERIMENT_P_VALUE] = f"{comparison['p_value']:.6g}"
    return tags


def record_result(client: MlflowClient, result: dict[str, Any], *, dag_run_id: str) -> str:
    """Tag both versions and log the report; returns where the report is (`runs:/<id>/experiment/report.md`)."""
    plan = result["plan"]
    for role in ("champion", "challenger"):
        for key, value in result_tags(result, role=role, dag_run_id=dag_run_id).items():
            client.set_model_version_tag(plan["model"], plan[role], key, value)
    run_id = str(client.get_model_version(plan["model"], plan["challenger"]).run_id)
    client.log_text(run_id, markdown_report(result), EXPERIMENT_REPORT_MD)
    client.log_text(run_id, html_report(result), EXPERIMENT_REPORT_HTML)
    return f"runs:/{run_id}/{EXPERIMENT_REPORT_MD}"
