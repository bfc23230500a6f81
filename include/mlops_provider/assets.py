"""The assets that connect the DAGs: `x-mlops://<model>/drift` and `x-mlops://<model>/champion`."""

from __future__ import annotations

from airflow.sdk import Asset

# `x-` is Airflow's prefix for schemes no provider registers. A bare `mlops://` would make Airflow load
# every provider's URI normalizer (the Amazon one imports boto3) when a DAG file is parsed.


def champion_asset(model: str) -> Asset:
    """Updated when `champion` moves to a new version; the deployment DAG runs on it."""
    return Asset(f"x-mlops://{model}/champion", group="mlops")


def drift_asset(model: str) -> Asset:
    """Updated when the drift monitor finds drift in the served model's inputs; retraining runs on it."""
    return Asset(f"x-mlops://{model}/drift", group="mlops")
