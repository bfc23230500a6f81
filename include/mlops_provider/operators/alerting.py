"""Alerts from operators: the model's `alerts` told of an event, with links back to the Airflow run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig


def airflow_run_url(context: Any) -> str | None:
    """The Airflow UI page of the running DAG run."""
    from urllib.parse import quote

    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="") or ""
    dag_run = context.get("dag_run")
    if not base or dag_run is None:
        return None
    return f"{base.rstrip('/')}/dags/{dag_run.dag_id}/runs/{quote(dag_run.run_id, safe='')}"


def alert(task: Any, context: Any, config: ModelConfig, *, kind: str, summary: str,
          versions: dict[str, str] | None = None, numbers: dict[str, Any] | None = None,
          links: dict[str, str] | None = None, details: str | None = None) -> dict[str, int]:
    """Send `kind` to the model's alerts that ask for it; a failed delivery is logged (the caller's action stands).
    Returns `{"delivered", "failed"}`."""
    from mlops_provider.alerts import AlertEvent, send_alerts

    if not config.alerts:
        return {"delivered": 0, "failed": 0}
    all_links = dict(links or {})
    run = airflow_run_url(context)
    if run:
        all_links.setdefault("Airflow run", run)
    event = AlertEvent(kind=kind, model=config.name, summary=summary, versions=versions or {},
                       numbers={k: float(v) for k, v in (numbers or {}).items() if v is not None},
                       links=all_links, details=details)
    deliveries = send_alerts(config.alerts, event, context=context)
    failed = [d for d in deliveries if not d.ok]
    for delivery in failed:
        task.log.warning("Model %s: %s alert through %s (%s) failed: %s", config.name, kind,
                         delivery.spec.notifier, delivery.spec.conn_id, delivery.error)
    return {"delivered": len(deliveries) - len(failed), "failed": len(failed)}
