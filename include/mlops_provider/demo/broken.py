"""A deliberately broken candidate for the demo and tests: the champion made slow.

`register_slow_candidate` registers a new version of a model that wraps its champion behind a step that
sleeps: it predicts exactly what the champion predicts, but every request takes `seconds` longer, so the
deployment's smoke test (p95 latency within `deploy.options.latency_budget_ms`) refuses it and the target
rolls it back. A latency regression is the kind of break that passes the training gate and is caught only
when the version is served.
"""

from __future__ import annotations

import time
from typing import Any

from mlops_provider.tracking import CHAMPION, TAG_REASON


def sleep_then_pass(rows: Any, seconds: float = 1.0) -> Any:
    """Identity, `seconds` late (a FunctionTransformer step of the slow candidate)."""
    time.sleep(seconds)
    return rows


def register_slow_candidate(model: str, *, tracking_uri: str, seconds: float = 1.0, alias: str = CHAMPION) -> str:
    """Register `<model>@<alias>` behind a `seconds` sleep as a new version; returns the version number."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from mlops_provider.config import load_model_config
    from mlops_provider.tracking import load_version, skops_format
    from mlops_provider.tracking import tracking_uri as tracking

    config = load_model_config(model, check_paths=False)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    base = client.get_model_version_by_alias(model, alias)
    with tracking(tracking_uri):
        champion = load_version(model, base.version)
        signature = mlflow.models.get_model_info(f"models:/{model}/{base.version}").signature
        slow = Pipeline([("slow", FunctionTransformer(sleep_then_pass, kw_args={"seconds": seconds})),
                         ("model", champion)])
        mlflow.set_experiment(config.experiment_name)
        with mlflow.start_run(run_name=f"slow-candidate-of-v{base.version}",
                              tags={"mlops.demo": "slow candidate"}):
            info = mlflow.sklearn.log_model(slow, name="model", signature=signature,
                                            pip_requirements=["scikit-learn"],
                                            **skops_format(slow))
        version = mlflow.register_model(info.model_uri, model, tags={
            TAG_REASON: "demo-broken-candidate",
            "mlops.demo": f"v{base.version} plus {seconds:g}s per request: must be refused by the smoke test"})
    return str(version.version)
