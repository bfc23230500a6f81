"""Buffered inference logging: scored requests collected in memory, written as inference-log windows.

A window is written when `max_rows` rows are waiting or the oldest waiting row is `max_seconds` old (a background
thread), on `flush()`, and on `close()` (the server's shutdown). A failed write keeps the rows for the next try,
so a clean shutdown loses nothing that could be written.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_provider.inference_log import PREDICTION, TIMESTAMP, VERSION, write_window

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Scored:
    features: pd.DataFrame
    predictions: list[Any]
    version: str
    timestamp: datetime


class InferenceLogBuffer:
    """Collects scored requests for one model's inference folder and writes them in windows."""

    def __init__(self, folder: str, *, conn_id: str | None = None, max_rows: int = 10_000,
                 max_seconds: float = 60.0) -> None:
        self.folder = folder
        self.conn_id = conn_id
        self.max_rows = max(1, max_rows)
        self.max_seconds = max(0.05, max_seconds)
        self.windows: list[str] = []
        self.rows_written = 0
        self._pending: list[_Scored] = []
        self._rows = 0
        self._first: float | None = None
        self._lock = threading.Lock()  # guards the pending list
        self._writing = threading.Lock()  # one write at a time, in row order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()

    def add(self, features: pd.DataFrame, predictions: list[Any], version: str, timestamp: datetime) -> None:
        with self._lock:
            self._pending.append(_Scored(features, predictions, version, timestamp))
            self._rows += len(predictions)
            if self._first is None:
                self._first = time.monotonic()
            full = self._rows >= self.max_rows
        if full:
            self._wake.set()

    @property
    def pending_rows(self) -> int:
        return self._rows

    def flush(self) -> str | None:
        """Write what is waiting as one window; returns its URI (None when nothing waited)."""
        with self._writing:
            with self._lock:
                batch, self._pending, self._rows, self._first = self._pending, [], 0, None
            if not batch:
                return None
            frame = _frame(batch)
            try:
                uri = write_window(self.folder, frame, start=batch[0].timestamp, conn_id=self.conn_id)
            except Exception:
                with self._lock:  # keep the rows, ahead of anything added meanwhile
                    self._pending = batch + self._pending
                    self._rows += len(frame)
                    self._first = self._first or time.monotonic()
                raise
            self.windows.append(uri)
            self.rows_written += len(frame)
            log.info("Inference log: %d row(s) -> %s", len(frame), uri)
            return uri

    def close(self) -> str | None:
        """Stop the background writer and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        return self.flush()

    def _due(self) -> bool:
        with self._lock:
            if self._rows >= self.max_rows:
                return True
            return self._first is not None and time.monotonic() - self._first >= self.max_seconds

    def _run(self) -> None:
        tick = min(1.0, self.max_seconds / 4)
        while not self._stop.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            if self._stop.is_set():
                return
            if self._due():
                try:
                    self.flush()
                except Exception:  # logged; the rows wait for the next try
                    log.exception("Inference log: writing a window to %s failed; will retry", self.folder)


def _frame(batch: list[_Scored]) -> pd.DataFrame:
    """The requests' features one under the other, and the three columns added whole (an `assign` per request
    copied every request's frame and was most of the logging cost)."""
    import pandas as pd

    counts = [len(item.predictions) for item in batch]
    frame = pd.concat([item.features for item in batch], ignore_index=True)
    frame[PREDICTION] = [value for item in batch for value in item.predictions]
    frame[VERSION] = pd.Series([item.version for item in batch], dtype=object).repeat(counts).to_numpy()
    stamps = pd.to_datetime([item.timestamp for item in batch], utc=True).as_unit("us")  # a datetime's precision
    frame[TIMESTAMP] = stamps.repeat(counts)
    return frame
