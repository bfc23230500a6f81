"""MLflowHook: turns the `mlflow_default` connection into an MlflowClient, without touching os.environ."""

from __future__ import annotations

import logging
import os
import time
import warnings
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

from mlops_provider.exceptions import RegistryError
from mlops_provider.mlflow_auth import auth_header, register_basic_auth

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mlflow import MlflowClient


def tracking_uri_from(host: str | None, port: int | None, schema: str | None, extra: dict[str, Any]) -> str:
    """Build the tracking URI from connection fields; `extra.tracking_uri` wins when set."""
    if extra.get("tracking_uri"):
        return str(extra["tracking_uri"]).rstrip("/")
    if not host:
        raise RegistryError("connection has no host: set host (e.g. http://mlflow:5000) or extra.tracking_uri")
    if "://" not in host:
        host = f"{schema or 'http'}://{host}"
    parts = urlsplit(host)
    netloc = parts.netloc if parts.port or not port else f"{parts.netloc}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


# MLflow's download progress bars (one stderr line per file) and its "View run" links (the operators log the
# run's URL with their own message); `fluent()` switches them off for its block unless the deployment sets them.
QUIET_MLFLOW_ENV = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


def _route_library_output() -> None:
    """Keep what MLflow and the libraries under it write out of the task log's ERROR and warning lines.

    - `import mlflow` gives the `mlflow` logger its own handler on stderr, and Airflow's task runner records a
      task's stderr as ERROR: "Waiting up to 300 seconds for model version ..." showed red in successful tasks.
      Without that handler the records reach the task log through the root logger, at their own level.
    - skops, which MLflow uses to save and load our models, finds the module of each scipy ufunc by looking the
      name up in every loaded module (`skops.io._utils.whichmodule`, once per process at import); each of
      Airflow's moved-module shims (`airflow.utils.timezone`, ...) answers every such probe with a
      DeprecatedImportWarning: ~1,160 lines in a `train` log. Only those probes are ignored: a real use of a
      deprecated Airflow path still warns.

    Idempotent; it changes only this (task) process.
    """
    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

    mlflow_logger = logging.getLogger("mlflow")
    mlflow_logger.handlers = [h for h in mlflow_logger.handlers
                              if getattr(h, "stream", None) is not MLFLOW_LOGGING_STREAM]
    mlflow_logger.propagate = True
    try:
        from airflow.utils.deprecation_tools import DeprecatedImportWarning
    except ImportError:  # a worker with the Task SDK only has no shims to probe
        return
    warnings.filterwarnings("ignore", category=DeprecatedImportWarning, module=r"skops\.")


@contextmanager
def _quiet_mlflow_env() -> Iterator[None]:
    unset = [name for name in QUIET_MLFLOW_ENV if name not in os.environ]
    os.environ.update({name: QUIET_MLFLOW_ENV[name] for name in unset})
    try:
        yield
    finally:
        for name in unset:
            os.environ.pop(name, None)


class MLflowHook(BaseHook):
    """Client access to an MLflow tracking server and model registry.

    Connection fields: host (``http://127.0.0.1:5000`` or a bare host with port), optional login and
    password for MLflow's basic-auth app, and extras ``tracking_uri`` (overrides host) and ``ui_url``
    (the address a browser uses, when it differs from the one tasks use).
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "mlflow"
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name, *, probe_attempts: int = 4) -> None:
        super().__init__()
        self.mlflow_conn_id = mlflow_conn_id
        self.probe_attempts = probe_attempts

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden-fields": ["schema"],
            "relabeling": {"host": "Tracking URI", "login": "Username (basic auth)"},
            "placeholders": {
                "host": "http://mlflow:5000",
                "extra": '{"ui_url": "http://localhost:5000"}',
            },
        }

    @cached_property
    def _connection(self) -> Any:
        return self.get_connection(self.mlflow_conn_id)

    @cached_property
    def tracking_uri(self) -> str:
        conn = self._connection
        return tracking_uri_from(conn.host, conn.port, conn.schema, conn.extra_dejson)

    @cached_property
    def ui_url(self) -> str:
        return str(self._connection.extra_dejson.get("ui_url") or self.tracking_uri).rstrip("/")

    @property
    def has_login(self) -> bool:
        """The connection holds a login: a training elsewhere (a pod, a SageMaker job) needs its own secret."""
        return bool(self._connection.login and self._connection.password)

    def _register_auth(self) -> None:
        conn = self._connection
        if conn.login and conn.password:
            from airflow.sdk.log import mask_secret

            mask_secret(conn.password)
            mask_secret(register_basic_auth(self.tracking_uri, conn.login, conn.password))

    def probe(self) -> None:
        """Fail fast, with backoff, when the tracking server does not answer (MLflow's own retries
        take minutes and end in a message that does not name the server)."""
        import requests

        delay = 1.0
        last: Exception | None = None
        for attempt in range(1, self.probe_attempts + 1):
            try:
                response = requests.get(f"{self.tracking_uri}/health", timeout=5,
                                        headers=auth_header(self.tracking_uri))
                if response.status_code < 500:
                    return
                last = RuntimeError(f"HTTP {response.status_code}")
            except requests.RequestException as err:
                last = err
            if attempt < self.probe_attempts:
                self.log.warning("MLflow at %s not answering (attempt %d): %s", self.tracking_uri, attempt, last)
                time.sleep(delay)
                delay *= 2
        raise RegistryError(
            f"MLflow tracking server at {self.tracking_uri} is unreachable after "
            f"{self.probe_attempts} attempts: {last}"
        )

    def get_conn(self) -> MlflowClient:
        """An `MlflowClient` bound to this connection's tracking and registry URI."""
        from mlflow import MlflowClient

        _route_library_output()
        # no progress bars from any client call of a task (they go to stderr, which Airflow logs as ERROR): a
        # client used outside `fluent()` (the passport, the alias history) downloads artifacts too
        for name, value in QUIET_MLFLOW_ENV.items():
            os.environ.setdefault(name, value)
        self._register_auth()
        self.probe()
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    @contextmanager
    def fluent(self) -> Iterator[MlflowClient]:
        """Point MLflow's fluent API (`mlflow.start_run`, `log_model`) at this server for the block.

        `mlflow.set_tracking_uri` and `set_registry_uri` also write MLFLOW_TRACKING_URI and
        MLFLOW_REGISTRY_URI into os.environ; both they and MLflow's globals are restored on exit.
        The URI never carries credentials. MLflow's progress bars and run links are off inside the block
        (`QUIET_MLFLOW_ENV`).
        """
        from mlops_provider.tracking import tracking_uri

        client = self.get_conn()
        with tracking_uri(self.tracking_uri), _quiet_mlflow_env():
            yield client

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.probe_attempts = 1
            self.get_conn().search_experiments(max_results=1)
        except Exception as err:
            return False, str(err)
        return True, f"MLflow at {self.tracking_uri} answered"

    def run_url(self, experiment_id: str, run_id: str) -> str:
        from mlops_provider.mlflow_urls import run_url

        return run_url(self.ui_url, experiment_id, run_id)

    def model_version_url(self, model: str, version: str | int) -> str:
        from mlops_provider.mlflow_urls import model_version_url

        return model_version_url(self.ui_url, model, version)
