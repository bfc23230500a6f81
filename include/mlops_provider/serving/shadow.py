"""Shadow scoring: a copy of every live request scored by a shadow version after the answer is sent, logged apart.

The live request hands its parsed features to `ShadowScorer.submit`, a `put_nowait` on a bounded queue, and the
answer goes out; one background thread scores the copies with the shadow version and writes its answers to the
shadow log (`inference_log.shadow_uri`: the same window format, the live row's `mlops_request_id`, the shadow's
`mlops_version`, plus `mlops_shadow_ms`, `mlops_live_ms` and `mlops_shadow_error`). The thread yields to live
requests: it runs at the lowest CPU priority (Linux: nice 19 for that thread alone) and waits, up to `IDLE_WAIT`
seconds per copy, until no live request is being scored. When the queue is full the copy is dropped and counted:
the live answer never waits for the shadow; under full load the shadow covers less traffic instead. A shadow
model that fails is an error row in the shadow log, never a failed live answer or a row missing from the live log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.serving.scoring import predict_scored

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.serving.logbuffer import InferenceLogBuffer

log = logging.getLogger(__name__)
SHADOW_MS = "mlops_shadow_ms"  # float: the shadow's scoring time of the request (on its first row, else null)
LIVE_MS = "mlops_live_ms"  # float: the live version's scoring time of the same request (first row, else null)
SHADOW_ERROR = "mlops_shadow_error"  # str: why the shadow failed on the request (null when it answered)
SHADOW_COLUMNS = (SHADOW_MS, LIVE_MS, SHADOW_ERROR)
QUEUE_SIZE = 1000  # requests waiting for the shadow; beyond it copies are dropped
IDLE_WAIT = 0.5  # seconds a copy waits for the live requests to pause before it is scored anyway
IDLE_POLL = 0.002


@dataclass(frozen=True)
class _Copy:
    features: pd.DataFrame
    ids: list[str]
    live_seconds: float
    timestamp: datetime


@dataclass
class ShadowCounters:
    submitted: int = 0  # requests offered to the shadow
    scored: int = 0  # requests the shadow answered
    rows: int = 0
    errors: int = 0  # requests the shadow failed on
    dropped: int = 0  # requests not shadowed because the queue was full
    seconds: float = 0.0
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class ShadowScorer:
    """Scores copies of live requests with `model` (version `version`) on one background thread; `buffer` (None:
    not logged, benchmarks) receives its answers."""

    def __init__(self, version: str, model: Any, buffer: InferenceLogBuffer | None, *,
                 queue_size: int = QUEUE_SIZE, busy: Callable[[], bool] | None = None) -> None:
        self.version = version
        self.model = model
        self.buffer = buffer
        self.queue_size = max(1, queue_size)
        self.busy = busy  # True while live requests are being scored: the shadow waits (up to IDLE_WAIT)
        self.counters = ShadowCounters()
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        self._queue: queue.Queue[_Copy | None] = queue.Queue(self.queue_size)
        self._thread = threading.Thread(target=self._run, name=f"shadow-v{version}", daemon=True)

    def start(self) -> ShadowScorer:
        if self.buffer is not None:
            self.buffer.start()
        self._thread.start()
        return self

    def submit(self, features: pd.DataFrame, ids: list[str], live_seconds: float) -> bool:
        """Offer a copy of a live request (never blocks); False when it was dropped (the queue is full)."""
        counters = self.counters
        try:
            self._queue.put_nowait(_Copy(features, ids, live_seconds, datetime.now(UTC)))
        except queue.Full:
            with counters.lock:
                counters.submitted += 1
                counters.dropped += 1
            return False
        with counters.lock:
            counters.submitted += 1
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Score what is queued, stop the thread, write the shadow log's last window (never raises)."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("Shadow v%s: queue still full after %.0fs; stopping without it", self.version, timeout)
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
        if self.buffer is not None:
            self.buffer.close()

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued copy is scored (tests, the bench); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def describe(self) -> dict[str, Any]:
        c = self.counters
        return {"version": self.version, "started": self.started, "queued": self._queue.qsize(),
                "queue_size": self.queue_size, "submitted": c.submitted, "scored": c.scored, "rows": c.rows,
                "errors": c.errors, "dropped": c.dropped, "last_error": c.last_error,
                "mean_ms": round(1000 * c.seconds / c.scored, 3) if c.scored else None,
                "log": self.buffer.health() if self.buffer is not None else {"status": "off"}}

    def _run(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # lowest priority for this thread only (Linux)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._wait_idle()
                self._score(item)
            except Exception:  # the loop must outlive anything one copy does
                log.exception("Shadow v%s: a copy could not be scored or logged", self.version)
            finally:
                self._queue.task_done()

    def _wait_idle(self) -> None:
        if self.busy is None:
            return
        deadline = time.monotonic() + IDLE_WAIT
        while self.busy() and time.monotonic() < deadline:
            time.sleep(IDLE_POLL)

    def _score(self, item: _Copy) -> None:
        rows = len(item.features)
        began = time.perf_counter()
        error: str | None = None
        try:
            predictions, scores = predict_scored(self.model, item.features)
        except Exception as err:
            predictions, scores = [None] * rows, None
            error = f"{type(err).__name__}: {err}"[:500]
        seconds = time.perf_counter() - began
        with self.counters.lock:
            self.counters.scored += 1
            self.counters.rows += rows
            self.counters.seconds += seconds
            if error is not None:
                self.counters.errors += 1
                self.counters.last_error = error
        if self.buffer is None:
            return
        first = [True] + [False] * (rows - 1)  # a request's latency once, on its first row
        frame = item.features.assign(**{
            SHADOW_MS: [1000 * seconds if f else None for f in first],
            LIVE_MS: [1000 * item.live_seconds if f else None for f in first],
            SHADOW_ERROR: [error] * rows,
        })
        frame[SHADOW_MS] = frame[SHADOW_MS].astype("float64")
        frame[LIVE_MS] = frame[LIVE_MS].astype("float64")
        frame[SHADOW_ERROR] = frame[SHADOW_ERROR].astype(object)
        self.buffer.add(frame, predictions, self.version, item.timestamp, ids=item.ids, scores=scores)
