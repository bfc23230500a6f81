"""Trigger `mlops_retraining` over REST: the conf of its contract and a run id derived from an idempotency key.

The run id is the idempotency key that Airflow enforces: two requests with the same key create one run, and
the second one is answered 409 ("already triggered"). Without a caller's key, the key is a hash of model, reason
and time bucket, so a monitor that fires every few minutes asks for at most one retraining per bucket.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.retraining import REASONS, REQUESTED_BY_PATTERN

if TYPE_CHECKING:
    from mlops_provider.client.airflow import AirflowClient, TriggerResult

RETRAINING_DAG = "mlops_retraining"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.~:+-]+")


def idempotency_key(model: str, reason: str, *, bucket_minutes: int = 60, now: datetime | None = None) -> str:
    """A key that is the same for one model and reason within one UTC time bucket of `bucket_minutes`."""
    if bucket_minutes < 1:
        raise ValueError(f"bucket_minutes must be at least 1, got {bucket_minutes}")
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    bucket = int(moment.timestamp()) // (bucket_minutes * 60)
    return hashlib.sha256(f"{model}\n{reason}\n{bucket_minutes}\n{bucket}".encode()).hexdigest()[:32]


def run_id_for(key: str, *, model: str, reason: str) -> str:
    """The `dag_run_id` for an idempotency key: `mlops__<model>__<reason>__<12 hex of the key's hash>`.

    Model and reason make the run readable in the UI; the hash makes any caller's key (an alert id, a
    ticket number) a valid Airflow run id.
    """
    if not key:
        raise ValueError("the idempotency key must not be empty")
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"mlops__{_safe(model)}__{_safe(reason)}__{digest}"


def retraining_conf(model: str, reason: str, requested_by: str, *,
                    drift: dict[str, Any] | None = None) -> dict[str, Any]:
    """The conf of the REST contract: exactly `model`, `reason`, `requested_by`, and `drift` when given."""
    if not model:
        raise ValueError("the model name must not be empty")
    if reason not in REASONS:
        raise ValueError(f"reason '{reason}' is not one of {list(REASONS)}")
    if not re.match(REQUESTED_BY_PATTERN, requested_by):
        raise ValueError(f"requested_by '{requested_by}' must match {REQUESTED_BY_PATTERN} "
                         "(a short id: letters, digits, _ . @ : -)")
    if drift is not None and not isinstance(drift, dict):
        raise ValueError(f"drift must be a JSON object, got {type(drift).__name__}")
    conf: dict[str, Any] = {"model": model, "reason": reason, "requested_by": requested_by}
    if drift is not None:
        conf["drift"] = drift
    return conf


def trigger_retraining(client: AirflowClient, model: str, reason: str, requested_by: str, *,
                       drift: dict[str, Any] | None = None, key: str | None = None,
                       now: datetime | None = None) -> TriggerResult:
    """Trigger `mlops_retraining` for `model`, idempotently by `key` (default: model + reason + UTC hour)."""
    conf = retraining_conf(model, reason, requested_by, drift=drift)
    key = key or idempotency_key(model, reason, now=now)
    return client.trigger(RETRAINING_DAG, conf, dag_run_id=run_id_for(key, model=model, reason=reason))


def _safe(part: str) -> str:
    return _UNSAFE.sub("-", part)[:80] or "-"
