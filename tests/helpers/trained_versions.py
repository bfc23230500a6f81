"""Registered versions of a configured model, trained by the model's own trainer on the real MLflow test server."""

from __future__ import annotations


def register_versions(name: str, tracking: str, max_iters: list[int]) -> list[str]:
    """Train and register one version per `max_iter` (the trainer's own code; pip inference skipped)."""
    import mlflow
    import mlflow.sklearn

    from mlops_provider.config import load_callable, load_model_config
    from mlops_provider.data import load_batches
    from mlops_provider.tracking import skops_format, tracking_uri

    config = load_model_config(name)
    train, _, _, _ = load_batches(config)
    trainer = load_callable(config.trainer.callable)
    versions = []
    with tracking_uri(tracking):
        mlflow.set_experiment(config.experiment_name)
        for max_iter in max_iters:
            params = {**config.trainer.params, "max_iter": max_iter}
            model = trainer(train, target=config.target, numeric=list(config.features.numeric),
                            categorical=list(config.features.categorical), params=params, seed=config.trainer.seed)
            with mlflow.start_run():
                info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"],
                                                **skops_format(model))
            versions.append(str(mlflow.register_model(info.model_uri, name).version))
    return versions


def register_broken_version(name: str, tracking: str) -> str:
    """Register a version trained on two columns only: it cannot predict the model's real feature rows."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from mlops_provider.tracking import skops_format, tracking_uri

    with tracking_uri(tracking):
        broken = LogisticRegression().fit(np.array([[1.0, 2.0], [2.0, 1.0]]), [0, 1])
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(broken, name="model", pip_requirements=["scikit-learn"],
                                            **skops_format(broken))
        return str(mlflow.register_model(info.model_uri, name).version)
