"""LabelsTrigger: waits in the triggerer until enough predictions of the served version have their labels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class LabelsTrigger(BaseTrigger):
    """Polls the labels log (and ingests the labels inbox) until `min_labels` predictions of `version` made in
    the last `window_hours` have a label, or `deadline` passes. The measuring runs on a worker afterwards.

    Yields one event: `{"status": "success" | "timeout", "labelled"}` or `{"status": "error", "message"}`.

    :param model: the model's name (its config is read in the triggerer's thread).
    :param version: the served version whose predictions count.
    :param min_labels: labelled predictions needed.
    :param window_hours: how far back the predictions reach.
    :param deadline: ISO time after which it gives up with a `timeout` event (the check then judges what it has).
    :param poke_interval: seconds between looks.
    """

    def __init__(self, *, model: str, version: str, min_labels: int, window_hours: int, deadline: str,
                 poke_interval: float = 60.0) -> None:
        super().__init__()
        self.model = model
        self.version = version
        self.min_labels = min_labels
        self.window_hours = window_hours
        self.deadline = deadline
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("mlops_provider.triggers.labels.LabelsTrigger", {
            "model": self.model, "version": self.version, "min_labels": self.min_labels,
            "window_hours": self.window_hours, "deadline": self.deadline, "poke_interval": self.poke_interval,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = datetime.fromisoformat(self.deadline)
        try:
            while True:
                labelled = await asyncio.to_thread(labelled_count, self.model, self.version, self.window_hours)
                if labelled >= self.min_labels:
                    yield TriggerEvent({"status": "success", "labelled": labelled})
                    return
                if datetime.now(UTC) >= deadline:
                    yield TriggerEvent({"status": "timeout", "labelled": labelled, "message": (
                        f"model '{self.model}' v{self.version}: {labelled} of {self.min_labels} labels arrived "
                        f"by {self.deadline}")})
                    return
                self.log.info("Model %s v%s: %d of %d labels so far; next look in %ss", self.model,
                              self.version, labelled, self.min_labels, self.poke_interval)
                await asyncio.sleep(self.poke_interval)
        except Exception as err:  # noqa: BLE001 - any failure becomes an error event the task reports
            yield TriggerEvent({"status": "error", "message": f"model '{self.model}': {type(err).__name__}: {err}"})


def labelled_count(model: str, version: str, window_hours: int, now: datetime | None = None) -> int:
    """Predictions of `version` in the last `window_hours` that have a label (the labels inbox ingested first)."""
    from mlops_provider.config import load_model_config
    from mlops_provider.inference_log import VERSION
    from mlops_provider.labels import ingest_inbox, labelled_predictions

    config = load_model_config(model, check_paths=False)
    ingest_inbox(config)
    end = now or datetime.now(UTC)
    joined = labelled_predictions(config, start=end - timedelta(hours=window_hours), end=end)
    return int((joined[VERSION].astype(str) == str(version)).sum()) if len(joined) else 0
