"""What a reader of the Airflow UI sees: a description on every DAG, one owner, mapped tasks labelled by model,
and a retraining form that offers the configured models and no `null` one."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag


def test_every_dag_has_a_one_line_description(bag: Any) -> None:
    for dag_id, dag in bag.dags.items():
        assert dag.description and "\n" not in dag.description, f"{dag_id} has no one-line description"
        assert len(dag.description) <= 120, f"{dag_id}: description longer than a line"


def test_one_owner_on_every_task_of_every_dag(bag: Any) -> None:
    owners = {task.owner for dag in bag.dags.values() for task in dag.tasks}
    assert owners == {"mlops"}


def test_mapped_tasks_are_labelled_by_model(bag: Any) -> None:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    mapped = {f"{dag_id}.{task.task_id}": task for dag_id, dag in bag.dags.items() for task in dag.tasks
              if isinstance(task, MappedOperator) or task.get_closest_mapped_task_group() is not None}
    assert {"mlops_drift_monitor.model.check_drift", "mlops_drift_monitor.model.drift_report",
            "mlops_drift_monitor.model.emit_drift_event", "mlops_performance_monitor.model.check_production",
            "mlops_performance_monitor.model.act", "mlops_deployment.deploy", "mlops_deployment.verify"} <= set(mapped)
    for name, task in mapped.items():
        template = task.map_index_template or ""
        assert "model" in template, f"{name} is labelled by its index, not its model ({template!r})"


def test_retraining_form_offers_the_models_without_null(bag: Any) -> None:
    from mlops_provider.settings import model_names

    schema = bag.dags["mlops_retraining"].params.get_param("model").schema
    choices = list(schema.get("enum", [])) + list(schema.get("examples", []))
    assert choices[:len(model_names())] == model_names() and None not in choices


def test_retraining_params_accept_a_drift_event_run_and_refuse_unknown_models(bag: Any) -> None:
    """A drift-event run has no conf, and Airflow validates every run's params: the default must pass."""
    from airflow.sdk.exceptions import ParamValidationError

    def validated(conf: dict[str, Any]) -> dict[str, Any]:
        params = copy.deepcopy(bag.dags["mlops_retraining"].params)
        params.update(conf)  # as a run's conf is merged into the DAG's params
        return params.validate()

    assert validated({})["model"] is None
    assert validated({"model": "credit_default"})["model"] == "credit_default"
    for wrong in ("no_such_model", "", "credit_default_x"):
        with pytest.raises(ParamValidationError, match="Invalid input for param model"):
            validated({"model": wrong})
