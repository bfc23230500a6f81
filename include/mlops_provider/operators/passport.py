"""What the operators share for the alias history and the passport: who a task is, writing a passport from a task."""

from __future__ import annotations

from typing import Any


def task_actor(context: Any, task: Any) -> str:
    """The actor of the history entries a task writes: `<dag_id>/<run_id>/<task_id>`."""
    return f"{task.dag_id}/{context['run_id']}/{task.task_id}"


def airflow_base_url() -> str | None:
    """Airflow's `[api] base_url`, the address the passport links the DAG run at (None when unset)."""
    from airflow.sdk import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/") or None


def write_passport_safely(task: Any, context: Any, model: str, version: str) -> str | None:
    """Write the version's passport and persist the task's passport link; a failure is a warning, never a failed
    task (the promotion it documents has happened, or been refused, already)."""
    from mlops_provider.links import PassportLink
    from mlops_provider.passport import write_passport

    try:
        url = write_passport(task.hook.get_conn(), model, str(version), mlflow_ui_url=task.hook.ui_url,
                             airflow_url=airflow_base_url(), dag_id=task.dag_id)
    except Exception as err:
        task.log.warning("Model %s v%s: the passport could not be written: %s: %s", model, version,
                         type(err).__name__, err)
        return None
    PassportLink.persist(context, url)
    task.log.info("Model %s v%s: passport at %s", model, version, url)
    return url
