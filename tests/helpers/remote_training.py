"""What the remote-training operator tests share: a task instance stand-in, a training result, a toy model whose
`trainer` block and MLflow connection the test picks."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

SAMPLE = {"model": "toy", "run_id": "0123abcd", "experiment_id": "7", "model_uri": "models:/m-1", "model_id": "m-1",
          "metrics": {"holdout_roc_auc": 0.8}, "data_digest": "d", "data_uri": "file:///t", "reused": False,
          "validation": "passed 3/3 (run v1)"}


@dataclass
class TaskInstance:
    """What the operator reads of its task instance outside `dag.test()`."""

    dag_id: str = "mlops_training"
    try_number: int = 1
    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def configure_trainer(model: str, monkeypatch: pytest.MonkeyPatch, trainer: dict[str, Any], *,
                      mlflow: dict[str, Any] | None = None) -> None:
    """`model`'s config (under MLOPS_MODELS_DIR) with `trainer`, its training file present (the worker checks it
    exists before training), and `mlflow_default` as `mlflow` (default: a server without login)."""
    data = Path(os.environ["MLOPS_DATA_DIR"]) / model / "train.parquet"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.touch()
    path = Path(os.environ["MLOPS_MODELS_DIR"]) / f"{model}.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "trainer": trainer}))
    connection = mlflow or {"conn_type": "mlflow", "host": "http://mlflow.mlops:5000"}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps(connection))
