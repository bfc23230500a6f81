"""A generated model set (one model broken on purpose) through `mlops_training` with dag.test() and a real
MLflow server: the broken model fails alone, every other is trained, gated and registered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def scale_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from mlops_provider.scale.generate import generate_models

    model_set = generate_models(tmp_path / "scale", 3)  # one classifier, one regressor, the broken one
    for key, value in model_set.env.items():
        monkeypatch.setenv(key, value)
    return model_set


def test_generated_set_trains_all_but_the_broken_model(mlflow_conn: str, scale_set: Any, load_dag: Any) -> None:
    from mlflow import MlflowClient

    dag = load_dag("mlops_training")
    assert sorted(dag.task_group.children) == sorted(p.name for p in scale_set.plans)
    run = dag.test()

    got = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    [broken] = scale_set.broken
    assert got[f"{broken}.validate"] == "failed", got
    assert {got[f"{broken}.{task}"] for task in ("train", "evaluate", "register", "promote")} == {"upstream_failed"}
    client = MlflowClient(tracking_uri=mlflow_conn, registry_uri=mlflow_conn)
    assert not client.search_registered_models(f"name = '{broken}'")
    healthy = [plan for plan in scale_set.plans if not plan.broken]
    assert {plan.task for plan in healthy} == {"classification", "regression"}
    for plan in healthy:
        assert got[f"{plan.name}.promote"] == "success", (plan.name, got)
        [version] = client.search_model_versions(f"name = '{plan.name}'")
        assert version.tags["mlops.dag_run_id"] == run.run_id
        assert version.tags["mlops.decision"] == "promoted", (plan.name, version.tags.get("mlops.gate"))
        assert client.get_registered_model(plan.name).aliases.get("champion") == version.version
