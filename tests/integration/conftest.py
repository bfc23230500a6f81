"""Fixtures of the integration tests that run deferrable operators in `dag.test()`."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def deferrals(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every deferral of the test's dag runs (trigger and kwargs), recorded where `dag.test()` runs the task.

    It also backports apache/airflow#69942 to the installed Airflow: its `dag.test()` replaces the kwargs a task
    passed to `defer()` by the event when the trigger fires, where the real triggerer adds the event to them."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.execution_time import supervisor
    from airflow.sdk.execution_time.comms import DeferTask
    from airflow.utils.session import create_session

    real = supervisor.run_task_in_process
    seen: list[dict[str, Any]] = []
    kept: dict[str, dict[str, Any]] = {}

    def run_task_in_process(ti: Any, task: Any) -> Any:
        if str(ti.id) in kept:
            with create_session() as session:
                row = session.get(TaskInstance, ti.id)
                row.next_kwargs = {**kept.pop(str(ti.id)), **(row.next_kwargs or {})}
        result = real(ti=ti, task=task)
        if isinstance(result.msg, DeferTask):
            seen.append({"classpath": result.msg.classpath, "method": result.msg.next_method,
                         "trigger_kwargs": result.msg.trigger_kwargs})
            kept[str(ti.id)] = dict(result.msg.next_kwargs or {})
        return result

    monkeypatch.setattr(supervisor, "run_task_in_process", run_task_in_process)
    return seen
