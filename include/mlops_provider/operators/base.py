"""What every model operator shares: the model name, the MLflow hook, config loading, no-retry errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from mlops_provider.exceptions import (
    ConfigError,
    DataError,
    DeploymentRefused,
    DriftError,
    EvaluationError,
    TrainingError,
    UntrustedModel,
    ValidationFailed,
)
from mlops_provider.hooks.mlflow import MLflowHook

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig

# Errors a retry cannot fix: the same data, config and code give the same failure.
DETERMINISTIC = (ConfigError, DataError, DriftError, TrainingError, EvaluationError, ValidationFailed,
                 DeploymentRefused, UntrustedModel)


@contextmanager
def fail_without_retry() -> Iterator[None]:
    """Turn deterministic errors into AirflowFailException (no retry); infrastructure errors still retry."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except DETERMINISTIC as err:
        raise AirflowFailException(str(err)) from err


class MLflowHookMixin:
    """The MLflow connection of an operator or sensor: `mlflow_conn_id` and the hook made from it, once."""

    mlflow_conn_id: str = MLflowHook.default_conn_name

    @cached_property
    def hook(self) -> MLflowHook:
        return MLflowHook(self.mlflow_conn_id)


class ModelOperator(MLflowHookMixin, BaseOperator):
    """Base of the operators that act on one configured model (`include/models/<model>.yaml`).

    :param model: name of the model's config file in `include/models/` (templated).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields: tuple[str, ...] = ("model",)
    ui_color = "#d7ecf9"

    def __init__(self, *, model: str, mlflow_conn_id: str = MLflowHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.mlflow_conn_id = mlflow_conn_id

    def load_config(self) -> ModelConfig:
        from mlops_provider.config import load_model_config

        return load_model_config(self.model)


def skip_if_retired(client: Any, model: str) -> None:
    """Skip the task when `model` was retired by its lifecycle plan: training or registering it again would give it
    a new champion and bring it back."""
    from airflow.sdk.exceptions import AirflowSkipException

    from mlops_provider.registry import model_tag
    from mlops_provider.tracking import TAG_RETIRED

    retired = model_tag(client, model, TAG_RETIRED)
    if retired:
        raise AirflowSkipException(f"model '{model}' was retired on {retired} (registered-model tag {TAG_RETIRED}): "
                                   "not trained or registered again; delete that tag to bring it back")
