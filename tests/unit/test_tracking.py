"""Loading a registered model runs no code from the artifact: skops with the package's trusted types (extended per
model in its config), pickle only where the model's config allows it. Against the real MLflow test server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from mlops_provider.exceptions import UntrustedModel
from mlops_provider.tracking import TRUSTED_TYPES, ModelTrust, load_version, tracking_uri
from tests.helpers.model_configs import write_credit_copy

X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]])
Y = [0, 1, 0, 1]
SLOW = "mlops_provider.demo.broken.sleep_then_pass"


def register(tracking: str, model: Any, name: str, **log: Any) -> str:
    import mlflow
    import mlflow.sklearn

    with tracking_uri(tracking), mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"], **log)
        return str(mlflow.register_model(info.model_uri, name).version)


@pytest.fixture
def name() -> str:
    return f"trust_{uuid.uuid4().hex[:8]}"


def with_step(function: Any, **kw_args: Any) -> Pipeline:
    """A fitted model behind a `function` step: the shape in which a model carries a function reference."""
    step = FunctionTransformer(function, kw_args=kw_args)
    return Pipeline([("step", step), ("model", LogisticRegression().fit(X, Y))])


def test_a_skops_model_of_trusted_types_loads(mlflow_server: str, name: str) -> None:
    version = register(mlflow_server, LogisticRegression().fit(X, Y), name, serialization_format="skops")
    with tracking_uri(mlflow_server):
        model = load_version(name, version)
    assert list(model.predict(X)) == Y
    assert "numpy.dtype" in TRUSTED_TYPES


def test_a_pickled_model_is_refused_unless_its_config_allows_pickle(mlflow_server: str, name: str) -> None:
    version = register(mlflow_server, LogisticRegression().fit(X, Y), name, serialization_format="cloudpickle")
    flag = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
    with tracking_uri(mlflow_server):
        with pytest.raises(UntrustedModel, match=f"models:/{name}/{version} is serialized with cloudpickle, which "
                                                 "runs code .* set trainer.allow_pickle: true"):
            load_version(name, version)
        allowed = load_version(name, version, trust=ModelTrust(allow_pickle=True))
    assert list(allowed.predict(X)) == Y
    assert os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION") == flag, "the flag is restored"


def test_the_trusted_list_in_the_artifact_is_never_read(mlflow_server: str, name: str) -> None:
    """A crafted model lists its own dangerous type as trusted in its MLmodel: refused all the same."""
    version = register(mlflow_server, with_step(os.getcwd), name, serialization_format="skops",
                       skops_trusted_types=["posix.getcwd"])
    with tracking_uri(mlflow_server), pytest.raises(UntrustedModel, match="holds types that are not trusted: "
                                                                          "posix.getcwd; add them to "
                                                                          "trainer.trusted_types"):
        load_version(name, version)


def test_a_model_config_extends_the_trusted_types(mlflow_server: str, name: str, tmp_path: Path,
                                                  demo_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_provider.demo.broken import sleep_then_pass

    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path))
    version = register(mlflow_server, with_step(sleep_then_pass, seconds=0.0), name, serialization_format="skops",
                       skops_trusted_types=[SLOW])
    write_credit_copy(tmp_path, name)
    with tracking_uri(mlflow_server), pytest.raises(UntrustedModel, match=SLOW):
        load_version(name, version)
    write_credit_copy(tmp_path, name, trainer={"trusted_types": [SLOW]})
    with tracking_uri(mlflow_server):
        assert list(load_version(name, version).predict(X)) == Y
