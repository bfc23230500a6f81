"""The server's two FastAPI apps: the public scoring app and the loopback-only admin app.

Public: `POST /invocations` (MLflow scoring format; every prediction gets an id: the answer's `metadata` and
`x-request-id` header, the inference log's `mlops_request_id`), `POST /feedback` (labels for those ids, into the
model's labels log; answers the delivery's report), `GET /health` (alive, and the inference log's state),
`GET /ready` (a model takes all traffic), `GET /version` (loaded versions, weights, counters, the inference log's
counters). A bad request is a 4xx (400 naming the column, field or header, 413 over the body limit): it never
reaches the model and never counts as a model error, which the canary reads to roll back.
Admin (also refused to non-loopback clients, on top of listening on 127.0.0.1 only): `POST /admin/load {version}`,
`/admin/traffic {weights, routing?}`, `/admin/promote {version}`, `/admin/unload {version}`, `/admin/flush`,
`POST /admin/shadow {version}` (load it beside the live version with no traffic and score a copy of every live
request with it, logged apart: `serving.shadow`), `POST /admin/shadow/stop {unload?}`, `GET /admin/status` (with
the shadow's counters). Giving the shadow traffic or unloading it ends the shadow.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from mlops_provider.serving.feedback import RecentIds, ingest_feedback, parse_feedback, prediction_ids, request_id
from mlops_provider.serving.headers import PIN_HEADER, REQUEST_ID_HEADER, ROUTING_KEY_HEADER, SMOKE_HEADER
from mlops_provider.serving.pool import Loaded, ModelPool, PoolError
from mlops_provider.serving.scoring import PayloadError, parse_payload, predict_scored
from mlops_provider.serving.shadow import QUEUE_SIZE, ShadowScorer

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig
    from mlops_provider.serving.logbuffer import InferenceLogBuffer

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 10 * 1024 * 1024


class BodyTooLarge(Exception):
    pass


@dataclass
class RequestCounters:
    """Requests refused before scoring (counted apart from the versions' model errors)."""

    bad_requests: int = 0
    too_large: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def describe(self) -> dict[str, int]:
        return {"bad_requests": self.bad_requests, "too_large": self.too_large}


@dataclass
class Service:
    """What both apps share: the model config, the versions held, the inference log, the first version."""

    config: ModelConfig
    pool: ModelPool
    buffer: InferenceLogBuffer | None = None
    initial: Callable[[], str | None] | None = None  # resolves the version to load at startup (off the loop)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    startup_error: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    refused: RequestCounters = field(default_factory=RequestCounters)
    recent_ids: RecentIds = field(default_factory=RecentIds)  # the prediction ids logged lately, for /feedback
    shadow_log: Callable[[], InferenceLogBuffer] | None = None  # a new buffer of the shadow log (None: not logged)
    shadow_queue: int = QUEUE_SIZE
    shadow: ShadowScorer | None = None
    initial_shadow: str | None = None  # the version to shadow once the first version is loaded
    scoring: int = 0  # live requests being scored now (changed on the event loop only; the shadow reads it)
    shadow_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def shadow_state(self) -> dict[str, Any] | None:
        scorer = self.shadow
        return scorer.describe() if scorer is not None else None

    def start_shadow(self, version: str) -> dict[str, Any]:
        """Load `version` beside the live one (no traffic) and shadow it; the state of the shadow."""
        with self.shadow_lock:
            routing = self.pool.routing
            if not self.pool.ready:
                raise PoolError(f"model '{self.config.name}': no version serves all traffic to shadow", 409)
            if self.shadow is not None and self.shadow.version != version:
                raise PoolError(f"version {self.shadow.version} is the shadow: stop it first", 409)
            if self.shadow is None:
                if routing.get(version) is None:
                    self.pool.load(version)
                loaded = self.pool.set_shadow(version)
                assert loaded is not None
                buffer = self.shadow_log() if self.shadow_log is not None else None
                self.shadow = ShadowScorer(version, loaded.model, buffer, queue_size=self.shadow_queue,
                                           busy=lambda: self.scoring > 0).start()
                log.info("Model %s: shadowing v%s", self.config.name, version)
        return {**self.pool.routing.describe(), "shadow_state": self.shadow_state()}

    def stop_shadow(self, *, unload: bool) -> dict[str, Any]:
        """Stop shadowing (the queued copies are scored and the shadow log written); unload the version too."""
        with self.shadow_lock:
            scorer, self.shadow = self.shadow, None
            final = scorer.describe() if scorer is not None else None
            if scorer is not None:
                if self.pool.routing.shadow == scorer.version:
                    self.pool.set_shadow(None)
                scorer.stop()
                final = scorer.describe()
                routing = self.pool.routing
                if unload and routing.get(scorer.version) is not None and routing.weight_of(scorer.version) == 0:
                    self.pool.unload(scorer.version)
        return {**self.pool.routing.describe(), "shadow_state": final}

    def sync_shadow(self) -> None:
        """End the shadow scorer when an admin call took its flag away (traffic given to it, unloaded)."""
        scorer = self.shadow
        if scorer is not None and self.pool.routing.shadow != scorer.version:
            self.stop_shadow(unload=False)

    def log_health(self) -> dict[str, Any]:
        return self.buffer.health() if self.buffer is not None else {"status": "off"}


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for anything else (or no address)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return host == "localhost"
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def _loopback_name(authority: str) -> bool:
    """True for a Host or Origin authority naming a loopback address (`127.0.0.1:8081`, `[::1]`, `localhost`)."""
    name = authority.rsplit("@", 1)[-1]
    if name.startswith("["):
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    return is_loopback(name.lower())


def require_loopback(request: Request) -> None:
    """Loopback clients only, and only by a loopback name: a page of another site that a browser reaches
    through DNS rebinding sends its own Host (and Origin), and is refused."""
    host = request.client.host if request.client else None
    if not is_loopback(host):
        raise HTTPException(status_code=403, detail=f"admin API answers loopback clients only, not {host}")
    named = request.headers.get("host", "")
    if not _loopback_name(named):
        raise HTTPException(status_code=403, detail=f"admin API answers requests for a loopback host only, "
                                                    f"not Host {named!r}")
    origin = request.headers.get("origin")
    if origin is not None and not _loopback_name(origin.partition("://")[2].rstrip("/")):
        raise HTTPException(status_code=403, detail=f"admin API refuses cross-site requests (Origin {origin!r})")


def _error(status: int, code: str, message: str, request: str | None = None) -> JSONResponse:
    headers = {REQUEST_ID_HEADER: request} if request is not None else None
    return JSONResponse({"error_code": code, "message": message}, status_code=status, headers=headers)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused (BodyTooLarge) as soon as it passes `limit` bytes, declared or not."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _score(service: Service, loaded: Loaded, body: bytes, logged: bool,
           request: str) -> tuple[list[Any], list[str], pd.DataFrame, float]:
    """Parse (PayloadError for a bad body), predict with the version picked, count, log; (predictions, ids,
    features, seconds the model took)."""
    features = parse_payload(body, service.config)
    began = time.perf_counter()
    try:
        predictions, scores = predict_scored(loaded.model, features)
    except Exception:
        service.pool.count(loaded, rows=len(features), seconds=time.perf_counter() - began, failed=True)
        raise
    seconds = time.perf_counter() - began
    service.pool.count(loaded, rows=len(features), seconds=seconds, failed=False)
    ids = prediction_ids(request, len(predictions))
    if logged and service.buffer is not None:
        service.buffer.add(features, predictions, loaded.version, datetime.now(UTC), ids=ids, scores=scores)
        service.recent_ids.add(ids)
    return predictions, ids, features, seconds


def _shadow_copy(scorer: ShadowScorer, features: pd.DataFrame, ids: list[str], seconds: float) -> BackgroundTask:
    """The copy for the shadow, handed over after the answer is sent (a queue put that never blocks)."""

    async def submit() -> None:
        scorer.submit(features, ids, seconds)

    return BackgroundTask(submit)


def create_app(service: Service) -> FastAPI:
    """The public scoring app; its lifespan loads the first version and flushes the inference log at shutdown."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if service.buffer is not None:
            service.buffer.start()
        if service.initial is not None:
            threading.Thread(target=_load_initial, args=(service,), name="initial-load", daemon=True).start()
        try:
            yield
        finally:
            await run_in_threadpool(service.stop_shadow, unload=False)
            if service.buffer is not None:
                await run_in_threadpool(service.buffer.close)

    app = FastAPI(title=f"mlops model server: {service.config.name}", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Always 200 while the process serves (a liveness probe restarting it would lose the buffered rows);
        `inference_log.status` says whether the log keeps up: ok, failing (rows wait), quarantined."""
        return {"status": "alive", "model": service.config.name, "inference_log": service.log_health()}

    @app.get("/ready")
    def ready() -> JSONResponse:
        routing = service.pool.routing
        body = {"ready": service.pool.ready, "model": service.config.name,
                "weights": routing.describe()["weights"]}
        if service.startup_error:
            body["error"] = service.startup_error
        return JSONResponse(body, status_code=200 if service.pool.ready else 503)

    @app.get("/version")
    def version() -> dict[str, Any]:
        return {"model": service.config.name, "started": service.started, **service.pool.routing.describe(),
                "refused": service.refused.describe(), "inference_log": service.log_health()}

    @app.post("/invocations")
    async def invocations(request: Request) -> JSONResponse:
        try:
            body = await _body(request, service.max_body_bytes)
        except BodyTooLarge:
            service.refused.add("too_large")
            return _error(413, "REQUEST_TOO_LARGE", f"body over the server's limit of {service.max_body_bytes} "
                                                    "bytes: send fewer rows per request")
        try:
            request_key = request_id(request.headers.get(REQUEST_ID_HEADER))
        except PayloadError as err:
            service.refused.add("bad_requests")
            return _error(400, "BAD_REQUEST", str(err))
        routing = service.pool.routing  # one snapshot for the whole request
        pinned = request.headers.get(PIN_HEADER)
        smoke = SMOKE_HEADER in request.headers
        if (pinned is not None or smoke) and not is_loopback(request.client.host if request.client else None):
            return _error(403, "PERMISSION_DENIED",
                          f"{PIN_HEADER} and {SMOKE_HEADER} are accepted from loopback clients only")
        if pinned is not None:
            loaded = routing.get(pinned.strip())
            if loaded is None:
                return _error(404, "RESOURCE_DOES_NOT_EXIST", f"version {pinned} is not loaded")
        else:
            key = request.headers.get(ROUTING_KEY_HEADER)
            loaded = routing.pick(key.encode() if key is not None else body)
            if loaded is None:
                return _error(503, "NOT_READY", f"model '{service.config.name}': no version is serving")
        service.scoring += 1
        try:
            predictions, ids, features, seconds = await run_in_threadpool(_score, service, loaded, body, not smoke,
                                                                          request_key)
        except PayloadError as err:
            service.refused.add("bad_requests")
            return _error(400, "BAD_REQUEST", str(err), request_key)
        except Exception as err:
            log.exception("Model %s v%s failed to predict", service.config.name, loaded.version)
            return _error(500, "INTERNAL_ERROR",
                          f"model '{service.config.name}' v{loaded.version} failed: {type(err).__name__}: {err}",
                          request_key)
        finally:
            service.scoring -= 1
        metadata = {"request_id": request_key, "prediction_ids": ids, "version": loaded.version}
        scorer = service.shadow
        copy = (_shadow_copy(scorer, features, ids, seconds)
                if scorer is not None and not smoke and routing.shadow == scorer.version != loaded.version else None)
        return JSONResponse({"predictions": predictions, "metadata": metadata},
                            headers={PIN_HEADER: loaded.version, REQUEST_ID_HEADER: request_key}, background=copy)

    @app.post("/feedback")
    async def feedback(request: Request) -> JSONResponse:
        """Labels for predictions this model served: the delivery's report (200), or 400 naming the field."""
        try:
            body = await _body(request, service.max_body_bytes)
        except BodyTooLarge:
            service.refused.add("too_large")
            return _error(413, "REQUEST_TOO_LARGE", f"body over the server's limit of {service.max_body_bytes} "
                                                    "bytes: send fewer labels per request")
        try:
            frame = parse_feedback(body)
        except PayloadError as err:
            service.refused.add("bad_requests")
            return _error(400, "BAD_REQUEST", str(err))
        source = f"api:{request.client.host if request.client else 'unknown'}"
        try:
            report = await run_in_threadpool(ingest_feedback, service, frame, source)
        except OSError as err:  # the storage: sending again is safe (what was stored counts as already known)
            log.exception("Model %s: labels could not be stored", service.config.name)
            return _error(503, "TEMPORARILY_UNAVAILABLE", f"model '{service.config.name}': the labels storage "
                                                          f"failed ({err}); send the labels again")
        except Exception as err:
            log.exception("Model %s: labels could not be ingested", service.config.name)
            return _error(500, "INTERNAL_ERROR", f"model '{service.config.name}': labels could not be ingested: "
                                                 f"{type(err).__name__}: {err}")
        return JSONResponse(report.to_dict())

    return app


def _load_initial(service: Service) -> None:
    assert service.initial is not None
    try:
        version = service.initial()
        if version is not None:
            service.pool.load(version)
            log.info("Model %s: serving v%s", service.config.name, version)
    except Exception as err:  # the server stays up (not ready); the admin API can still load a version
        service.startup_error = f"{type(err).__name__}: {err}"
        log.exception("Model %s: the initial version could not be loaded", service.config.name)
        return
    if service.initial_shadow is not None:
        try:
            service.start_shadow(service.initial_shadow)
        except Exception:  # the live version serves regardless; the status shows no shadow
            log.exception("Model %s: v%s could not be shadowed", service.config.name, service.initial_shadow)


def create_admin_app(service: Service) -> FastAPI:
    """The admin app. Bind it to 127.0.0.1 only; every route also refuses non-loopback clients."""
    app = FastAPI(title=f"mlops model server admin: {service.config.name}", docs_url=None, redoc_url=None,
                  openapi_url=None, dependencies=[Depends(require_loopback)])
    pool = service.pool

    @app.exception_handler(PoolError)
    async def pool_error(_: Request, err: PoolError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=err.status)

    def _described(result: dict[str, Any]) -> dict[str, Any]:
        return {"model": service.config.name, "ready": pool.ready, **result}

    @app.get("/admin/status")
    def status() -> dict[str, Any]:
        pending = service.buffer.pending_rows if service.buffer is not None else 0
        return _described({**pool.routing.describe(), "log_pending_rows": pending,
                           "refused": service.refused.describe(), "inference_log": service.log_health(),
                           "shadow_state": service.shadow_state()})

    @app.post("/admin/load")
    def load(version: int | str = Body(..., embed=True)) -> dict[str, Any]:
        return _described(pool.load(str(version)))

    @app.post("/admin/traffic")
    def traffic(weights: dict[str, Any] = Body(..., embed=True),
                routing: str | None = Body(None, embed=True)) -> dict[str, Any]:
        result = pool.set_weights(weights, routing)
        service.sync_shadow()
        return _described(result)

    @app.post("/admin/promote")
    def promote(version: int | str = Body(..., embed=True)) -> dict[str, Any]:
        result = pool.promote(str(version))
        service.sync_shadow()
        return _described(result)

    @app.post("/admin/unload")
    def unload(version: int | str = Body(..., embed=True)) -> dict[str, Any]:
        result = pool.unload(str(version))
        service.sync_shadow()
        return _described(result)

    @app.post("/admin/shadow")
    def shadow(version: int | str = Body(..., embed=True)) -> dict[str, Any]:
        return _described(service.start_shadow(str(version)))

    @app.post("/admin/shadow/stop")
    def shadow_stop(unload: bool = Body(True, embed=True)) -> dict[str, Any]:
        return _described(service.stop_shadow(unload=unload))

    @app.post("/admin/flush")
    def flush() -> dict[str, Any]:
        if service.buffer is None:
            return {"window": None, "logging": False}
        try:
            window = service.buffer.flush()
        except OSError as err:
            raise HTTPException(status_code=503, detail=f"inference log: the window could not be written, its "
                                                        f"rows wait for the next try: {err}") from None
        return {"window": window, "logging": True, "windows": len(service.buffer.windows),
                "quarantined": list(service.buffer.quarantined)}

    return app
