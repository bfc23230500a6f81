"""Helpers for the deployment target tests: registered versions on the real MLflow test server, and model configs
built the way `include/models/<model>.yaml` is parsed. Imported explicitly (not a conftest)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from mlops_provider.config import ModelConfig, parse_model_config
from mlops_provider.tracking import serving_alias

MLMODEL = """artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    python_version: 3.11.0
"""


def register_versions(tracking_uri: str, prefix: str, count: int) -> tuple[str, MlflowClient]:
    """A new registered model `<prefix>_<random>` with `count` READY versions whose source is one run's `model`
    folder (an `MLmodel` file and a `model.pkl`), so its artifacts can be downloaded and packaged."""
    client = MlflowClient(tracking_uri)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    run = client.create_run("0", run_name=name)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "MLmodel").write_text(MLMODEL)
        (Path(folder) / "model.pkl").write_bytes(b"not really a pickle")
        client.log_artifacts(run.info.run_id, folder, "model")
    client.set_terminated(run.info.run_id)
    client.create_registered_model(name)
    for _ in range(count):
        client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    return name, client


def model_config(name: str, target: str, strategy: str = "rolling", *, canary_steps: list[int] | None = None,
                 **options: Any) -> ModelConfig:
    deploy: dict[str, Any] = {"target": target, "strategy": strategy, "options": options}
    if canary_steps is not None:
        deploy["canary_steps"] = canary_steps
    raw = {"name": name, "target": "label", "features": {"numeric": ["x"]}, "data": {"train": "t.parquet"},
           "gate": {"minimum": 0.5}, "deploy": deploy}
    return parse_model_config(raw, f"{name}.yaml")


def alias_version(client: MlflowClient, model: str, alias: str) -> str | None:
    """The version under `alias` of `model`, or None."""
    try:
        return str(client.get_model_version_by_alias(model, alias).version)
    except Exception:
        return None


def served_on(target: str) -> Callable[[MlflowClient, str], str | None]:
    """`(client, model) -> version` recorded as served by `target` (its `serving_<target>` alias), or None."""
    return lambda client, model: alias_version(client, model, serving_alias(target))
