"""DAG hygiene: every DAG file imports cleanly, documents itself, retries with a timeout, and stays thin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted(p for p in (ROOT / "dags").glob("*.py") if not p.name.startswith("_"))
HEAVY = ["pandas", "numpy", "scipy", "sklearn", "mlflow", "evidently", "great_expectations", "boto3",
         "kubernetes", "pyarrow", "skops"]


@pytest.fixture(scope="module")
def bag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(bag: Any) -> None:
    assert bag.import_errors == {}
    assert bag.dags, "no DAGs found"


def test_file_name_is_dag_id(bag: Any) -> None:
    for dag_id, dag in bag.dags.items():
        assert Path(dag.fileloc).stem == dag_id


def test_every_dag_has_tags_owner_and_docs(bag: Any) -> None:
    for dag_id, dag in bag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 80, f"{dag_id} has no doc_md"
        owners = {task.owner for task in dag.tasks}
        assert owners and "airflow" not in owners, f"{dag_id} tasks need an owner, got {owners}"


def test_every_task_retries_with_a_timeout(bag: Any) -> None:
    for dag_id, dag in bag.dags.items():
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
            assert isinstance(task.execution_timeout, timedelta), f"{dag_id}.{task.task_id} has no timeout"


def test_training_dag_covers_every_configured_model(bag: Any) -> None:
    from mlops_provider.settings import model_names

    dag = bag.dags["mlops_training"]
    groups = {task.task_id.split(".")[0] for task in dag.tasks}
    assert groups == set(model_names()) == {"credit_default", "breast_cancer", "diabetes_progression"}
    # only the model that asks for a person's sign-off waits for one
    assert {t.task_id for t in dag.tasks if t.task_id.endswith(".approve")} == {"diabetes_progression.approve"}


PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("dagfile", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
heavy = json.loads(sys.argv[2])
print(json.dumps(sorted(name for name in heavy if name in sys.modules)))
"""


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_parsing_imports_nothing_heavy(path: Path) -> None:
    """In a fresh interpreter, as the DAG processor does: no heavy library may be imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    result = subprocess.run([sys.executable, "-c", PROBE, str(path), json.dumps(HEAVY)], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
