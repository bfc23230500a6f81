"""The MLOps Airflow plugin: an "MLflow" entry in the Airflow UI navigation. Imports nothing heavy.

Operator extra links (MLflow run, model version, Data Docs, drift report) are registered by the
provider's `get_provider_info`, so they work without this plugin; the plugin only adds the nav link.
The URL is the browser-facing MLflow address, `MLOPS_MLFLOW_UI_URL` (default the demo's).
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin


class MlopsPlugin(AirflowPlugin):
    name = "mlops"
    external_views = [
        {
            "name": "MLflow",
            "href": os.environ.get("MLOPS_MLFLOW_UI_URL", "http://127.0.0.1:5000"),
            "destination": "nav",
            "category": "browse",
            "icon": "https://mlflow.org/favicon.ico",
        }
    ]
