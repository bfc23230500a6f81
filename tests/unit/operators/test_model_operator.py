"""What every model operator shares: one MLflow hook mixin, config loading, no-retry errors."""

from __future__ import annotations

import inspect
from pathlib import Path

import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException

from mlops_provider.exceptions import ConfigError, DataError, RegistryError, ValidationFailed
from mlops_provider.operators.base import MLflowHookMixin, ModelOperator, fail_without_retry
from mlops_provider.operators.training import TrainModelOperator
from mlops_provider.sensors.drift import DriftSensor


@pytest.mark.parametrize("error", [ConfigError("model 'x': bad key"), DataError("model 'x': no file"),
                                   ValidationFailed("model 'x': 3 of 12 failed", {})])
def test_deterministic_errors_fail_without_retry_keeping_the_message(error: Exception) -> None:
    with pytest.raises(AirflowFailException, match="model 'x'") as info, fail_without_retry():
        raise error
    assert info.value.__cause__ is error


def test_infrastructure_errors_still_retry() -> None:
    with pytest.raises(RegistryError, match="unreachable"), fail_without_retry():
        raise RegistryError("MLflow at http://x is unreachable")
    with pytest.raises(OSError), fail_without_retry():
        raise OSError("disk full")


def test_operators_and_the_sensor_share_one_cached_hook_per_connection() -> None:
    operator = TrainModelOperator(task_id="train", model="toy", mlflow_conn_id="mlflow_other")
    sensor = DriftSensor(task_id="check", model="toy", mlflow_conn_id="mlflow_sensor")

    assert operator.hook is operator.hook and operator.hook.mlflow_conn_id == "mlflow_other"
    assert sensor.hook.mlflow_conn_id == "mlflow_sensor"
    shared = inspect.getattr_static(MLflowHookMixin, "hook")
    assert inspect.getattr_static(ModelOperator, "hook") is shared
    assert inspect.getattr_static(DriftSensor, "hook") is shared
    assert TrainModelOperator(task_id="t", model="toy").mlflow_conn_id == "mlflow_default"


def test_load_config_reads_the_models_yaml_and_names_a_missing_data_file(toy_model: str, tmp_path: Path) -> None:
    operator = TrainModelOperator(task_id="train", model=toy_model)
    with pytest.raises(ConfigError, match=r"toy.yaml: key 'data.train': file .*/toy/train.parquet does not exist"):
        operator.load_config()

    (tmp_path / "data" / "toy").mkdir(parents=True)
    pd.DataFrame({"x": [1.0], "colour": ["red"], "label": [0]}).to_parquet(tmp_path / "data/toy/train.parquet")
    config = operator.load_config()
    assert config.name == "toy" and config.drift.min_rows == 50
