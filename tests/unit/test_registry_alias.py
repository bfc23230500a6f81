"""`registry.alias_version` against what MLflow's server answers: 404 for a missing alias, and, behind the
basic-auth app, 403 for an alias of a model that does not exist yet."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import PERMISSION_DENIED, RESOURCE_DOES_NOT_EXIST

from mlops_provider.registry import alias_version


class Registry:
    """The two calls `alias_version` makes, answering as MLflow's REST store raises."""

    def __init__(self, models: dict[str, dict[str, str]], *, denied: set[str] = frozenset()) -> None:
        self.models, self.denied = models, denied

    def get_model_version_by_alias(self, model: str, alias: str) -> Any:
        if model in self.denied or model not in self.models:
            # basic auth: no permission can be checked on a model that does not exist
            raise MlflowException("API request to endpoint /api/2.0/mlflow/registered-models/alias failed with "
                                  "error code 403 != 200. Response body: 'Permission denied'",
                                  error_code=PERMISSION_DENIED)
        if alias not in self.models[model]:
            raise MlflowException(f"Registered model alias {alias} not found.", error_code=RESOURCE_DOES_NOT_EXIST)
        return SimpleNamespace(version=self.models[model][alias])

    def get_registered_model(self, model: str) -> Any:
        if model not in self.models:
            raise MlflowException(f"Registered Model with name={model} not found", error_code=RESOURCE_DOES_NOT_EXIST)
        return SimpleNamespace(name=model)


def test_an_alias_of_a_model_not_registered_yet_is_none_behind_basic_auth() -> None:
    assert alias_version(Registry({}), "credit", "champion") is None  # type: ignore[arg-type]


def test_a_missing_alias_is_none_and_a_present_one_its_version() -> None:
    registry = Registry({"credit": {"champion": "3"}})
    assert alias_version(registry, "credit", "champion") == "3"  # type: ignore[arg-type]
    assert alias_version(registry, "credit", "challenger") is None  # type: ignore[arg-type]


def test_a_real_refusal_on_an_existing_model_is_raised() -> None:
    registry = Registry({"credit": {"champion": "3"}}, denied={"credit"})
    with pytest.raises(MlflowException, match="403"):
        alias_version(registry, "credit", "champion")  # type: ignore[arg-type]
