"""The MLOps Airflow plugin, registered through the `airflow.plugins` entry point. Imports nothing heavy.

- An "MLflow" entry in the Airflow UI navigation (`MLOPS_MLFLOW_UI_URL`, default the demo's address).
- The `conf` contract of `mlops_retraining` on the api-server: a trigger with an unknown conf key or
  without a model is answered 400 before a run exists (Airflow itself only validates declared Params).

Operator extra links (MLflow run, model version, Data Docs, drift report) are registered by the
provider's `get_provider_info`, so they work without this plugin.
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin

from mlops_provider.api_guard import ConfContract, ConfContractMiddleware
from mlops_provider.retraining import CONF_KEYS, REQUIRED_CONF_KEYS

RETRAINING_CONTRACT = ConfContract(allowed=frozenset(CONF_KEYS), required=frozenset(REQUIRED_CONF_KEYS))


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
    fastapi_root_middlewares = [
        {
            "name": "mlops retraining conf contract",
            "middleware": ConfContractMiddleware,
            "kwargs": {"contracts": {"mlops_retraining": RETRAINING_CONTRACT}},
        }
    ]
