"""InferenceWindowTrigger: waits in the triggerer until a model's newest inference window holds enough rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class InferenceWindowTrigger(BaseTrigger):
    """Polls the inference folder (file names and Parquet footers only) until the windows of the last
    `window_minutes` hold `min_rows` rows, or `deadline` passes. The drift test itself runs on a worker
    afterwards: the triggerer's event loop must stay free.

    Yields one event: `{"status": "success", "windows", "rows"}`, `{"status": "timeout", "rows", "message"}` or
    `{"status": "error", "message"}`.

    :param model: the model's name, for messages.
    :param folder: the model's inference-log folder (a URI `ObjectStoragePath` reads).
    :param min_rows: rows the windows must hold.
    :param window_minutes: how far back the windows reach.
    :param deadline: ISO time after which it gives up with a `timeout` event.
    :param poke_interval: seconds between looks.
    :param conn_id: the connection for the folder's storage (None: local files).
    """

    def __init__(self, *, model: str, folder: str, min_rows: int, window_minutes: int, deadline: str,
                 poke_interval: float = 60.0, conn_id: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.folder = folder
        self.min_rows = min_rows
        self.window_minutes = window_minutes
        self.deadline = deadline
        self.poke_interval = poke_interval
        self.conn_id = conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("mlops_provider.triggers.drift.InferenceWindowTrigger", {
            "model": self.model, "folder": self.folder, "min_rows": self.min_rows,
            "window_minutes": self.window_minutes, "deadline": self.deadline,
            "poke_interval": self.poke_interval, "conn_id": self.conn_id,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = datetime.fromisoformat(self.deadline)
        try:
            while True:
                windows, rows = await asyncio.to_thread(window_rows, self.folder, self.window_minutes, self.conn_id)
                if rows >= self.min_rows:
                    yield TriggerEvent({"status": "success", "windows": windows, "rows": rows})
                    return
                if datetime.now(UTC) >= deadline:
                    yield TriggerEvent({"status": "timeout", "rows": rows, "message": (
                        f"model '{self.model}': {rows} of {self.min_rows} rows in the last "
                        f"{self.window_minutes} minutes of {self.folder}")})
                    return
                self.log.info("Model %s: %d of %d rows so far; next look in %ss", self.model, rows,
                              self.min_rows, self.poke_interval)
                await asyncio.sleep(self.poke_interval)
        except Exception as err:  # noqa: BLE001 - any failure becomes an error event the task reports
            yield TriggerEvent({"status": "error", "message": f"model '{self.model}': {type(err).__name__}: {err}"})


def window_rows(folder: str, minutes: int, conn_id: str | None) -> tuple[list[str], int]:
    """(window URIs, row count) of the last `minutes` of the folder."""
    from mlops_provider.inference_log import count_rows, recent_windows

    windows = recent_windows(folder, minutes=minutes, conn_id=conn_id)
    return [w.uri for w in windows], count_rows(windows, conn_id)
