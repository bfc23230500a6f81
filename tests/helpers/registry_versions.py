"""Versions of a registered model with no trained model behind them: a run holding one small file each, for tests
of the registry's records (aliases, history, passport) that never load a model."""

from __future__ import annotations

from typing import Any


def client_for(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def bare_versions(client: Any, model: str, count: int, *, params: dict[str, str] | None = None) -> list[str]:
    """Register `count` versions of `model`, each from its own run in experiment `mlops/<model>`."""
    experiment = client.get_experiment_by_name(f"mlops/{model}")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(f"mlops/{model}")
    client.create_registered_model(model)
    versions = []
    for _ in range(count):
        run = client.create_run(experiment_id, run_name="training", tags={"mlops.stage": "training"})
        for key, value in (params or {}).items():
            client.log_param(run.info.run_id, key, value)
        client.log_text(run.info.run_id, "not a model", "model/README.txt")
        client.update_run(run.info.run_id, status="FINISHED")  # set_terminated prints to stdout
        version = client.create_model_version(model, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
        versions.append(str(version.version))
    return versions
