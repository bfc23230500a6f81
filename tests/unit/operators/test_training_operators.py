"""TrainModelOperator / EvaluateModelOperator arguments, and the reference-profile writer the training run uses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlops_provider.operators.training import EvaluateModelOperator, TrainModelOperator


def test_train_stores_its_arguments_and_templates_reason_and_validation() -> None:
    operator = TrainModelOperator(task_id="train", model="toy", reason="drift", validation={"success": True})

    assert (operator.model, operator.reason, operator.validation) == ("toy", "drift", {"success": True})
    assert operator.template_fields == ("model", "reason", "validation")
    assert [link.name for link in operator.operator_extra_links] == ["MLflow run"]
    assert TrainModelOperator(task_id="t", model="toy").reason == "schedule"


def test_evaluate_stores_the_training_result() -> None:
    operator = EvaluateModelOperator(task_id="evaluate", model="toy", training={"model_uri": "runs:/r/model"})

    assert operator.training == {"model_uri": "runs:/r/model"}
    assert operator.template_fields == ("model", "training")


def test_reference_profile_writer_logs_a_profile_the_monitor_can_load(mlflow_server: str, tmp_path: Path) -> None:
    import mlflow
    from mlflow import MlflowClient

    from mlops_provider.drift import ReferenceProfile
    from mlops_provider.monitoring import reference_profile_writer
    from mlops_provider.tracking import PROFILE_ARTIFACT, tracking_uri

    frame = pd.DataFrame({"income": [float(i) for i in range(200)], "colour": ["red", "blue"] * 100})
    write = reference_profile_writer()
    assert write is not None
    with tracking_uri(mlflow_server):
        mlflow.set_experiment("unit-profile-writer")
        with mlflow.start_run() as run:
            write(frame, run.info.run_id)
    path = MlflowClient(tracking_uri=mlflow_server).download_artifacts(run.info.run_id, PROFILE_ARTIFACT, str(tmp_path))
    profile = ReferenceProfile.load(Path(path))
    assert profile == ReferenceProfile.fit(frame) and profile.rows == 200
