"""The MLOps Airflow plugin, registered through the `airflow.plugins` entry point. Imports nothing heavy.

- An "MLflow" entry in the Airflow UI navigation (`MLOPS_MLFLOW_UI_URL`, default the demo's address).
- The Models page (`mlops_provider.cockpit.app`): a FastAPI app on the api-server under `/mlops`, behind Airflow's
  own authentication, shown inside the Airflow UI by the "Models" navigation entry (an embedded view).
- The `conf` contract of `mlops_retraining` on the api-server: a trigger with an unknown conf key or
  without a model is answered 400 before a run exists (Airflow itself only validates declared Params).

Operator extra links (MLflow run, model version, Data Docs, drift report) are registered by the
provider's `get_provider_info`, so they work without this plugin.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from mlops_provider.api_guard import ConfContract, ConfContractMiddleware
from mlops_provider.retraining import CONF_KEYS, REQUIRED_CONF_KEYS

RETRAINING_CONTRACT = ConfContract(allowed=frozenset(CONF_KEYS), required=frozenset(REQUIRED_CONF_KEYS))
COCKPIT_PREFIX = "/mlops"
MODELS_PAGE = f"{COCKPIT_PREFIX}/models"


class MlopsPlugin(AirflowPlugin):
    name = "mlops"
    external_views = [
        {
            "name": "MLflow",
            "href": os.environ.get("MLOPS_MLFLOW_UI_URL", "http://127.0.0.1:5000"),
            "destination": "nav",
            "category": "browse",
            "icon": "https://mlflow.org/favicon.ico",
        },
        {
            # with a `url_route` the UI shows `href` in a frame at /plugin/mlops-models, beside its own pages
            "name": "Models",
            "href": MODELS_PAGE,
            "url_route": "mlops-models",
            "destination": "nav",
            "category": "browse",
        },
    ]
    fastapi_root_middlewares = [
        {
            "name": "mlops retraining conf contract",
            "middleware": ConfContractMiddleware,
            "kwargs": {"contracts": {"mlops_retraining": RETRAINING_CONTRACT}},
        }
    ]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """Built when the api-server asks for it: the scheduler, workers and DAG processor load this plugin too,
        and need neither FastAPI nor the api-server's security module."""
        from mlops_provider.cockpit.app import create_app

        if self._apps is None:
            self._apps = [{"name": "mlops models", "app": create_app(COCKPIT_PREFIX), "url_prefix": COCKPIT_PREFIX}]
        return self._apps

    _apps: list[dict[str, Any]] | None = None
