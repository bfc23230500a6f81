"""An MLflow client for the cockpit, after one quick look at the server: MLflow's own retries take minutes to
give up on a server that is down, and a page or a terminal must answer sooner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_provider.exceptions import RegistryError
from mlops_provider.mlflow_auth import auth_header

if TYPE_CHECKING:
    from mlflow import MlflowClient

PROBE_TIMEOUT = 5.0


def mlflow_client(tracking_uri: str, *, timeout: float = PROBE_TIMEOUT) -> MlflowClient:
    """A client bound to `tracking_uri`; RegistryError naming the server when its `/health` does not answer."""
    import requests
    from mlflow import MlflowClient

    uri = tracking_uri.rstrip("/")
    if uri.startswith(("http://", "https://")):
        try:
            response = requests.get(f"{uri}/health", timeout=timeout, headers=auth_header(uri))
        except requests.RequestException as err:
            raise RegistryError(f"MLflow at {uri} is unreachable: {err}") from None
        if response.status_code >= 500:
            raise RegistryError(f"MLflow at {uri} answered /health with HTTP {response.status_code}")
    return MlflowClient(tracking_uri=uri, registry_uri=uri)
