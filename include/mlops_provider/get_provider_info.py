"""Provider metadata for Airflow's `apache_airflow_provider` entry point."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    from mlops_provider import __version__

    return {
        "package-name": "airflow-provider-mlops",
        "name": "MLOps",
        "description": "The machine-learning lifecycle on Airflow: validation, training, registry, deployment, drift.",
        "versions": [__version__],
        "connection-types": [
            {"hook-class-name": "mlops_provider.hooks.mlflow.MLflowHook", "connection-type": "mlflow"},
        ],
        "extra-links": [
            "mlops_provider.links.MLflowRunLink",
            "mlops_provider.links.MLflowModelVersionLink",
            "mlops_provider.links.DataDocsLink",
            "mlops_provider.links.DriftReportLink",
            "mlops_provider.links.PassportLink",
        ],
    }
