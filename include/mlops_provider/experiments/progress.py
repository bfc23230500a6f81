"""How far an experiment has come: labelled rows per arm since it started, and the challenger's guardrails.

Read by the waiting trigger at every poll and by the operators; no Airflow import.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.experiments.plan import ARMS, ExperimentPlan

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig
    from mlops_provider.experiments.options import ExperimentGuardrails


def arm_traffic(config: ModelConfig, plan: ExperimentPlan, *, end: datetime | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(predictions of either arm logged since the plan started, those of them with a label); the labels inbox is
    ingested first."""
    from mlops_provider.inference_log import VERSION, predictions_between
    from mlops_provider.labels import ingest_inbox, labelled_predictions

    ingest_inbox(config)
    start, stop = datetime.fromisoformat(plan.started), end or datetime.now(UTC)
    versions = {plan.champion, plan.challenger}
    predictions = predictions_between(config, start, stop)
    labelled = labelled_predictions(config, start=start, end=stop)
    if len(predictions):
        predictions = predictions[predictions[VERSION].astype(str).isin(versions)]
    if len(labelled):
        labelled = labelled[labelled[VERSION].astype(str).isin(versions)]
    return predictions, labelled


def labelled_per_arm(plan: ExperimentPlan, labelled: pd.DataFrame) -> dict[str, int]:
    from mlops_provider.inference_log import VERSION

    served = labelled[VERSION].astype(str) if len(labelled) else None
    versions = {"champion": plan.champion, "challenger": plan.challenger}
    return {arm: int((served == versions[arm]).sum()) if served is not None else 0 for arm in ARMS}


def guardrail_breach(guardrails: ExperimentGuardrails, health: dict[str, Any] | None) -> str | None:
    """Why the challenger breaks a guardrail, from the server's counters of it (`split.version_health`), or None."""
    if health is None or int(health.get("requests") or 0) < guardrails.min_requests:
        return None
    requests, errors = int(health["requests"]), int(health.get("errors") or 0)
    rate = errors / requests
    if guardrails.max_error_rate is not None and rate > guardrails.max_error_rate:
        return (f"the challenger v{health['version']} failed {errors} of {requests} requests ({rate:.1%}), over "
                f"`experiment.guardrails.max_error_rate` {guardrails.max_error_rate:.1%}")
    mean_ms = health.get("mean_ms")
    if guardrails.max_latency_mean_ms is not None and mean_ms is not None and mean_ms > guardrails.max_latency_mean_ms:
        return (f"the challenger v{health['version']} takes {mean_ms:.1f} ms per request on average over "
                f"{requests} requests, over `experiment.guardrails.max_latency_mean_ms` "
                f"{guardrails.max_latency_mean_ms:g}")
    return None


def look(model: str, plan_data: dict[str, Any], *, tracking_uri: str, state_dir: str | None = None
         ) -> dict[str, Any]:
    """One look: `{"labelled": {arm: rows}, "ready": bool, "stopped": reason | None}`."""
    from mlops_provider.config import load_model_config
    from mlops_provider.deploy.local.split import split_target, version_health

    config = load_model_config(model, check_paths=False)
    plan = ExperimentPlan.from_dict(plan_data)
    _, labelled = arm_traffic(config, plan)
    counts = labelled_per_arm(plan, labelled)
    stopped = None
    if config.experiment is not None:
        target = split_target(config, tracking_uri=tracking_uri, state_dir=state_dir)
        stopped = guardrail_breach(config.experiment.guardrails, version_health(target, model, plan.challenger))
    ready = all(counts[arm] >= plan.rows[arm] for arm in ARMS)
    return {"labelled": counts, "ready": ready, "stopped": stopped}
