"""Buffered inference logging: scored requests collected in memory, written as inference-log windows.

A window is written when `max_rows` rows are waiting or the oldest waiting row is `max_seconds` old (a background
thread), on `flush()`, and on `close()` (the server's shutdown). The log never blocks on one window:

- a write that fails for the storage (an `OSError`: disk full, permissions, a network blip) keeps the rows and is
  retried with exponential backoff; nothing is lost once the storage takes writes again;
- a window that cannot be written for its data (anything else, e.g. Arrow refusing mixed types in a column) is set
  aside whole as a JSON-lines file in `quarantine/` next to the windows, and later windows go on as usual.

Counters of both (and of the windows written) are in `health()`, which `/health`, `/version` and
`/admin/status` show. With `retention_days`, the writer also deletes windows older than that, at most once an hour.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.inference_log import (
    PREDICTION,
    REQUEST_ID,
    SCORE,
    TIMESTAMP,
    VERSION,
    delete_before,
    quarantine,
    write_window,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
Writer = Callable[..., str]
RETENTION_EVERY = 3600.0  # seconds between two retention sweeps
CLOSE_ATTEMPTS = 3  # storage failures tolerated at shutdown before the rows are given up (and logged)


@dataclass(frozen=True)
class _Scored:
    features: pd.DataFrame
    predictions: list[Any]
    version: str
    timestamp: datetime
    ids: list[str] | None = None  # the prediction ids, one per row
    scores: list[float] | None = None  # a binary classifier's positive-class probabilities, one per row


@dataclass
class LogCounters:
    windows_written: int = 0
    rows_written: int = 0
    write_failures: int = 0  # storage failures (each failed attempt)
    consecutive_failures: int = 0
    quarantined_windows: int = 0
    quarantined_rows: int = 0
    rows_lost: int = 0  # only at shutdown, when the storage still refuses every write
    windows_deleted: int = 0
    last_error: str | None = None


class InferenceLogBuffer:
    """Collects scored requests for one model's inference folder and writes them in windows.

    `writer` writes one window (default `inference_log.write_window`); a test passes one that fails.
    """

    def __init__(self, folder: str, *, conn_id: str | None = None, max_rows: int = 10_000,
                 max_seconds: float = 60.0, retention_days: int | None = None, writer: Writer | None = None,
                 retry_seconds: float = 1.0, max_retry_seconds: float = 60.0) -> None:
        self.folder = folder
        self.conn_id = conn_id
        self.max_rows = max(1, max_rows)
        self.max_seconds = max(0.05, max_seconds)
        self.retention_days = retention_days
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max(retry_seconds, max_retry_seconds)
        self.windows: list[str] = []
        self.quarantined: list[str] = []
        self.counters = LogCounters()
        self._writer = writer
        self._pending: list[_Scored] = []
        self._rows = 0
        self._first: float | None = None
        self._retry_at = 0.0  # monotonic time before which the background thread does not try again
        self._swept = -RETENTION_EVERY
        self._lock = threading.Lock()  # guards the pending list
        self._writing = threading.Lock()  # one write at a time, in row order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def rows_written(self) -> int:
        return self.counters.rows_written

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()

    def add(self, features: pd.DataFrame, predictions: list[Any], version: str, timestamp: datetime, *,
            ids: list[str] | None = None, scores: list[float] | None = None) -> None:
        with self._lock:
            self._pending.append(_Scored(features, predictions, version, timestamp, ids, scores))
            self._rows += len(predictions)
            if self._first is None:
                self._first = time.monotonic()
            full = self._rows >= self.max_rows
        if full:
            self._wake.set()

    @property
    def pending_rows(self) -> int:
        return self._rows

    def health(self) -> dict[str, Any]:
        """`ok`, `failing` (the storage refuses writes; rows wait) or `quarantined` (rows were set aside)."""
        counters = self.counters
        status = ("failing" if counters.consecutive_failures or counters.rows_lost
                  else "quarantined" if counters.quarantined_windows else "ok")
        retry = max(0.0, self._retry_at - time.monotonic()) if counters.consecutive_failures else None
        return {"status": status, "folder": self.folder, "pending_rows": self._rows,
                "retry_in_seconds": None if retry is None else round(retry, 1),
                **{k: v for k, v in vars(counters).items()}}

    def flush(self) -> str | None:
        """Write what is waiting as one window; returns its URI (None when nothing waited, or when the window
        was quarantined). A storage failure re-raises after keeping the rows for the next try."""
        with self._writing:
            with self._lock:
                batch, self._pending, self._rows, self._first = self._pending, [], 0, None
            if not batch:
                return None
            frame = _frame(batch)
            start = batch[0].timestamp
            try:
                uri = (self._writer or write_window)(self.folder, frame, start=start, conn_id=self.conn_id)
            except OSError as err:
                self._keep(batch, len(frame), err)
                raise
            except Exception as err:  # the data, not the storage: set the window aside, go on
                try:
                    self._quarantine(frame, start, err)
                except OSError as storage:
                    self._keep(batch, len(frame), storage)
                    raise
                return None
            self._written(uri, len(frame))
            return uri

    def close(self) -> str | None:
        """Stop the background writer and write what is left; never raises (it runs in the server's shutdown).
        A storage that still refuses after a few quick tries loses the rows, and says so in the log."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for attempt in range(1, CLOSE_ATTEMPTS + 1):
            try:
                return self.flush()
            except OSError:
                if attempt < CLOSE_ATTEMPTS:
                    time.sleep(min(self.retry_seconds, 1.0) * attempt)
        with self._lock:
            lost, self._pending, self._rows = self._rows, [], 0
        self.counters.rows_lost += lost
        log.error("Inference log: %d row(s) for %s lost at shutdown: %s", lost, self.folder,
                  self.counters.last_error)
        return None

    def sweep(self) -> int:
        """Delete windows older than `retention_days` (none without it); returns how many."""
        self._swept = time.monotonic()
        if self.retention_days is None:
            return 0
        cutoff = datetime.now(UTC) - timedelta(days=self.retention_days)
        deleted = delete_before(self.folder, cutoff, conn_id=self.conn_id)
        self.counters.windows_deleted += deleted
        if deleted:
            log.info("Inference log: deleted %d window(s) of %s older than %d day(s)", deleted, self.folder,
                     self.retention_days)
        return deleted

    def _keep(self, batch: list[_Scored], rows: int, err: Exception) -> None:
        """Put a batch back ahead of anything added meanwhile, and back off before the next try."""
        with self._lock:
            self._pending = batch + self._pending
            self._rows += rows
            self._first = self._first or time.monotonic()
        counters = self.counters
        counters.write_failures += 1
        counters.consecutive_failures += 1
        counters.last_error = f"{type(err).__name__}: {err}"
        delay = min(self.max_retry_seconds, self.retry_seconds * 2 ** (counters.consecutive_failures - 1))
        self._retry_at = time.monotonic() + delay
        log.error("Inference log: writing %d row(s) to %s failed (%s); %d row(s) wait, next try in %.1fs",
                  rows, self.folder, counters.last_error, self._rows, delay)

    def _quarantine(self, frame: pd.DataFrame, start: datetime, err: Exception) -> None:
        uri = quarantine(self.folder, frame, start=start, reason=f"{type(err).__name__}: {err}",
                         conn_id=self.conn_id)
        self.quarantined.append(uri)
        self.counters.quarantined_windows += 1
        self.counters.quarantined_rows += len(frame)
        self.counters.consecutive_failures = 0
        self.counters.last_error = f"{type(err).__name__}: {err}"
        log.error("Inference log: a window of %d row(s) could not be written (%s); set aside in %s",
                  len(frame), self.counters.last_error, uri)

    def _written(self, uri: str, rows: int) -> None:
        self.windows.append(uri)
        self.counters.windows_written += 1
        self.counters.rows_written += rows
        self.counters.consecutive_failures = 0
        self._retry_at = 0.0
        log.info("Inference log: %d row(s) -> %s", rows, uri)

    def _due(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        with self._lock:
            if self._rows >= self.max_rows:
                return True
            return self._first is not None and time.monotonic() - self._first >= self.max_seconds

    def _run(self) -> None:
        tick = min(1.0, self.max_seconds / 4, self.retry_seconds)
        while not self._stop.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            if self._stop.is_set():
                return
            if self._due():
                try:
                    self.flush()
                except OSError:  # counted and logged by _keep; the rows wait for the next try
                    pass
                except Exception:  # never let the writer thread die
                    log.exception("Inference log: writing a window to %s failed", self.folder)
            if time.monotonic() - self._swept >= RETENTION_EVERY:
                try:
                    self.sweep()
                except Exception:
                    log.exception("Inference log: deleting old windows of %s failed", self.folder)


def _frame(batch: list[_Scored]) -> pd.DataFrame:
    """The requests' features one under the other, and the meta columns added whole (an `assign` per request
    copied every request's frame and was most of the logging cost). Ids are text and scores float64 in every
    window, null where a request had none, so every window has one type per column."""
    import numpy as np
    import pandas as pd

    counts = [len(item.predictions) for item in batch]
    frame = pd.concat([item.features for item in batch], ignore_index=True)
    frame[PREDICTION] = [value for item in batch for value in item.predictions]
    frame[VERSION] = pd.Series([item.version for item in batch], dtype=object).repeat(counts).to_numpy()
    stamps = pd.to_datetime([item.timestamp for item in batch], utc=True).as_unit("us")  # a datetime's precision
    frame[TIMESTAMP] = stamps.repeat(counts)
    nothing: list[Any] = [None]
    frame[REQUEST_ID] = pd.Series([i for item in batch for i in (item.ids or nothing * len(item.predictions))],
                                  dtype=object).to_numpy()
    frame[SCORE] = np.array([s for item in batch for s in (item.scores or nothing * len(item.predictions))],
                            dtype="float64")
    return frame
