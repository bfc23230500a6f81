"""Run the model server: the public app and the admin app as two uvicorn servers in one process and one loop.

SIGTERM or SIGINT stops both gracefully: in-flight requests finish, then the public app's lifespan writes what
the inference log still holds. The admin server always binds 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig
    from mlops_provider.serving.app import Service

log = logging.getLogger(__name__)
ADMIN_HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServerOptions:
    model: str
    tracking_uri: str
    host: str = "127.0.0.1"
    port: int = 5050
    admin_port: int = 5051
    version: str | None = None
    alias: str | None = None
    routing: str = "random"
    log_rows: int = 10_000
    log_seconds: float = 60.0
    inference_log: bool = True
    log_level: str = "info"
    max_body_bytes: int = 10 * 1024 * 1024
    shadow_queue: int = 1000  # requests waiting for a shadow version; beyond it copies are dropped (and counted)
    shadow: str | None = None  # a version to shadow from the start (the Kubernetes self-mirroring shadow)
    shadow_log: bool = False  # this whole server is a shadow (a mirror's target): its log is the shadow log


def mlflow_loader(model: str, tracking_uri: str) -> Callable[[str], Any]:
    """Loads `models:/<model>/<version>` from the registry at `tracking_uri`."""

    def load(version: str) -> Any:
        from mlops_provider.tracking import load_version
        from mlops_provider.tracking import tracking_uri as tracking

        with tracking(tracking_uri):
            return load_version(model, version)

    return load


def registry_version(model: str, options: ServerOptions, *, wait: float = 10.0) -> str:
    """The version to serve first (`options.version`, or the one under `options.alias`), checked in the registry
    before the server starts, within seconds instead of MLflow's own retries for minutes with nothing on the
    screen: RegistryError naming the tracking URI when MLflow does not answer, DeploymentError naming the
    version (or alias) when the registry does not have it."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from mlops_provider.exceptions import DeploymentError, RegistryError
    from mlops_provider.netutil import wait_http
    from mlops_provider.registry import alias_version

    uri = options.tracking_uri
    if uri.startswith(("http://", "https://")):
        try:
            wait_http(f"{uri.rstrip('/')}/health", timeout=wait)
        except RuntimeError:
            raise RegistryError(f"MLflow tracking server at {uri} does not answer (waited {wait:.0f}s); "
                                  f"is it running? (--tracking-uri or MLFLOW_TRACKING_URI)") from None
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        if options.version is not None:
            return str(client.get_model_version(model, options.version).version)
        found = alias_version(client, model, str(options.alias))
    except MlflowException as err:
        what = f"version {options.version}" if options.version is not None else f"alias '{options.alias}'"
        raise DeploymentError(f"model '{model}' {what} is not in the registry at {uri}: "
                              f"{err.message if hasattr(err, 'message') else err}") from None
    if found is None:
        raise DeploymentError(f"model '{model}' has no version under alias '{options.alias}' in the registry "
                              f"at {uri}")
    return found


def build_service(config: ModelConfig, options: ServerOptions) -> Service:
    from mlops_provider.inference_log import inference_uri, shadow_uri
    from mlops_provider.serving.app import Service
    from mlops_provider.serving.feedback import RECENT_IDS, RecentIds
    from mlops_provider.serving.logbuffer import InferenceLogBuffer
    from mlops_provider.serving.pool import ModelPool

    pool = ModelPool(mlflow_loader(config.name, options.tracking_uri), mode=options.routing)
    folder = shadow_uri(config) if options.shadow_log else inference_uri(config)
    buffer = (InferenceLogBuffer(folder, conn_id=config.data.conn_id, max_rows=options.log_rows,
                                 max_seconds=options.log_seconds, retention_days=config.drift.retention_days)
              if options.inference_log else None)
    shadow_log: Callable[[], InferenceLogBuffer] | None = None
    if options.inference_log and not options.shadow_log:
        def shadow_log() -> InferenceLogBuffer:
            return InferenceLogBuffer(shadow_uri(config), conn_id=config.data.conn_id, max_rows=options.log_rows,
                                      max_seconds=options.log_seconds, retention_days=config.drift.retention_days)
    initial: Callable[[], str | None] | None = None
    if options.version is not None:
        version = options.version
        initial = lambda: version  # noqa: E731
    elif options.alias is not None:
        initial = lambda: registry_version(config.name, options)  # noqa: E731
    # every id still waiting in the buffer must be remembered: a label may come before its window is written
    recent = RecentIds(max(RECENT_IDS, 2 * options.log_rows))
    return Service(config=config, pool=pool, buffer=buffer, initial=initial, max_body_bytes=options.max_body_bytes,
                   recent_ids=recent, shadow_log=shadow_log, shadow_queue=options.shadow_queue,
                   initial_shadow=options.shadow)


def serve(config: ModelConfig, options: ServerOptions) -> None:
    """Serve until SIGTERM/SIGINT."""
    from mlops_provider.serving.app import create_admin_app, create_app

    service = build_service(config, options)
    public = _Server(uvicorn.Config(create_app(service), host=options.host, port=options.port, lifespan="on",
                                   access_log=False, log_level=options.log_level, timeout_graceful_shutdown=30))
    admin = _Server(uvicorn.Config(create_admin_app(service), host=ADMIN_HOST, port=options.admin_port,
                                   lifespan="off", access_log=False, log_level=options.log_level))
    asyncio.run(_serve_both(public, admin))


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to `_serve_both` (two servers cannot both own it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_both(public: _Server, admin: _Server) -> None:
    def stop() -> None:
        public.should_exit = admin.should_exit = True

    def on_signal() -> None:
        if public.should_exit:  # a second signal: stop waiting for open connections
            public.force_exit = admin.force_exit = True
        stop()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)

    async def run(server: _Server) -> None:
        try:
            await server.serve()
        finally:
            stop()  # either server ending (or failing to bind) ends the other

    await asyncio.gather(run(public), run(admin))
