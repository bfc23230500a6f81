"""The REST client for monitors outside Airflow: trigger `mlops_retraining` idempotently and follow the run.

Only httpx and the standard library at import time; `monitor` adds the drift check (MLflow, pandas, lazily).
"""

from __future__ import annotations

from mlops_provider.client.airflow import AirflowClient, TriggerError, TriggerResult
from mlops_provider.client.trigger import (
    RETRAINING_DAG,
    idempotency_key,
    retraining_conf,
    run_id_for,
    trigger_retraining,
)

__all__ = [
    "RETRAINING_DAG",
    "AirflowClient",
    "TriggerError",
    "TriggerResult",
    "idempotency_key",
    "retraining_conf",
    "run_id_for",
    "trigger_retraining",
]
