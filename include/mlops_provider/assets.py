"""The assets that connect the DAGs: `mlops://<model>/drift` and `mlops://<model>/champion`."""

from __future__ import annotations

from airflow.sdk import Asset


def champion_asset(model: str) -> Asset:
    """Updated when `champion` moves to a new version; the deployment DAG runs on it."""
    return Asset(f"mlops://{model}/champion", group="mlops")


def drift_asset(model: str) -> Asset:
    """Updated when the drift monitor finds drift in the served model's inputs; retraining runs on it."""
    return Asset(f"mlops://{model}/drift", group="mlops")
