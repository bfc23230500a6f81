"""The Models page as a FastAPI app, mounted by the plugin on Airflow's api-server under `/mlops`. Read-only.

Routes (under the mount prefix): `GET /models` (HTML), `GET /models/{model}` (HTML), `GET /api/models` (JSON),
`GET /api/models/{model}` (JSON). A plugin's FastAPI app gets no authentication from Airflow, so every route
depends on Airflow's own check, `requires_access_dag("GET")` of the core API: the caller is whoever the JWT in
the `Authorization: Bearer` header, or else in the `_token` cookie the UI sets at login, says; the auth manager
then decides whether that user may read DAGs. No credential: 401; a bad one: 403; no data either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from fastapi import FastAPI
    from mlflow import MlflowClient

    from mlops_provider.cockpit.rows import Links

MLFLOW_CONN_ID = "mlflow_default"
# No external loads at all (the page inlines its style and script), and framed only by the Airflow UI itself.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                               "img-src 'self' data:; frame-ancestors 'self'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def create_app(prefix: str) -> FastAPI:
    """The app the plugin mounts at `prefix` (e.g. `/mlops`); links between its pages start with `prefix`."""
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends, FastAPI
    from fastapi.responses import HTMLResponse, JSONResponse

    from mlops_provider.cockpit.page import model_page, models_page

    app = FastAPI(title="MLOps models", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(requires_access_dag("GET"))])

    @app.get("/models", response_class=HTMLResponse)
    def models_html() -> HTMLResponse:
        return HTMLResponse(models_page(_rows(), base=prefix), headers=SECURITY_HEADERS)

    @app.get("/models/{model}", response_class=HTMLResponse)
    def model_html(model: str) -> HTMLResponse:
        detail = _detail(model)
        return HTMLResponse(model_page(detail, base=prefix), headers=SECURITY_HEADERS)

    @app.get("/api/models")
    def models_json() -> JSONResponse:
        return JSONResponse({"models": [row.to_dict() for row in _rows()]}, headers=SECURITY_HEADERS)

    @app.get("/api/models/{model}")
    def model_json(model: str) -> JSONResponse:
        return JSONResponse(_detail(model).to_dict(), headers=SECURITY_HEADERS)

    return app


def _rows() -> list[Any]:
    from mlops_provider.cockpit.rows import ModelRow, load_configs, model_rows
    from mlops_provider.config import ModelConfig
    from mlops_provider.exceptions import MlopsError

    configs = load_configs()
    try:
        client, links = _mlflow()
    except MlopsError as err:  # every configured model says why it has no data
        return [ModelRow(model=c.name, error=str(err) if isinstance(c, ModelConfig) else c.error) for c in configs]
    return model_rows(client, configs, links=links)


def _detail(model: str) -> Any:
    from fastapi import HTTPException

    from mlops_provider.cockpit.rows import ModelDetail, ModelRow, model_detail
    from mlops_provider.config import load_model_config
    from mlops_provider.exceptions import ConfigError, MlopsError
    from mlops_provider.settings import model_names

    if model not in model_names():
        raise HTTPException(404, f"model '{model}' is not configured")
    try:
        config = load_model_config(model, check_paths=False)
    except ConfigError as err:
        return ModelDetail(row=ModelRow(model=model, error=str(err)), versions=[])
    try:
        client, links = _mlflow()
        return model_detail(client, config, links=links)
    except Exception as err:
        message = str(err) if isinstance(err, MlopsError) else f"MLflow could not be read for model '{model}': {err}"
        return ModelDetail(row=ModelRow(model=model, description=config.description, error=message), versions=[])


def _mlflow() -> tuple[MlflowClient, Links]:
    """A client for the `mlflow_default` connection and the addresses a browser uses for MLflow and Airflow."""
    from airflow.configuration import conf
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    from mlops_provider.cockpit.rows import Links
    from mlops_provider.cockpit.source import mlflow_client
    from mlops_provider.exceptions import RegistryError
    from mlops_provider.hooks.mlflow import tracking_uri_from
    from mlops_provider.mlflow_auth import register_basic_auth

    try:
        connection = Connection.get_connection_from_secrets(MLFLOW_CONN_ID)
    except AirflowNotFoundException:
        raise RegistryError(f"the Airflow connection '{MLFLOW_CONN_ID}' (conn type mlflow) is not defined") from None
    extra = connection.extra_dejson
    uri = tracking_uri_from(connection.host, connection.port, connection.schema, extra)
    if connection.login and connection.password:
        register_basic_auth(uri, connection.login, connection.password)
    # Airflow links are paths on the page's own origin: right behind any proxy that serves both
    airflow = urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
    return mlflow_client(uri), Links(mlflow_ui=str(extra.get("ui_url") or uri).rstrip("/"), airflow=airflow)
