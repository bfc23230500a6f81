"""ExperimentTrigger: waits in the triggerer until both arms of an A/B experiment have their planned labelled
rows, a guardrail stops it, or the deadline passes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class ExperimentTrigger(BaseTrigger):
    """Polls the inference log and the labels (the labels inbox ingested first) per arm, and the challenger's
    counters on the local server, every `poll_seconds` (`experiments.progress.look`).

    Yields one event: `{"status": "ready" | "deadline" | "stopped", "labelled", "reason"}` or
    `{"status": "error", "message"}`.

    :param model: the model's name (its config is read in the triggerer's thread).
    :param plan: the experiment's plan (`ExperimentPlan.to_dict()`), with its deadline.
    :param tracking_uri: the MLflow server (the local target reads what it serves there).
    :param poll_seconds: seconds between two looks.
    :param state_dir: the local servers' state folder (default: the target's).
    """

    def __init__(self, *, model: str, plan: dict[str, Any], tracking_uri: str, poll_seconds: float = 300.0,
                 state_dir: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.plan = plan
        self.tracking_uri = tracking_uri
        self.poll_seconds = poll_seconds
        self.state_dir = state_dir

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("mlops_provider.triggers.experiment.ExperimentTrigger", {
            "model": self.model, "plan": self.plan, "tracking_uri": self.tracking_uri,
            "poll_seconds": self.poll_seconds, "state_dir": self.state_dir,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from mlops_provider.experiments.progress import look

        deadline = datetime.fromisoformat(self.plan["deadline"])
        try:
            while True:
                seen = await asyncio.to_thread(look, self.model, self.plan, tracking_uri=self.tracking_uri,
                                               state_dir=self.state_dir)
                labelled = seen["labelled"]
                if seen["stopped"]:
                    yield TriggerEvent({"status": "stopped", "labelled": labelled, "reason": seen["stopped"]})
                    return
                if seen["ready"]:
                    yield TriggerEvent({"status": "ready", "labelled": labelled, "reason": "planned size reached"})
                    return
                if datetime.now(UTC) >= deadline:
                    yield TriggerEvent({"status": "deadline", "labelled": labelled,
                                        "reason": f"deadline {self.plan['deadline']} passed"})
                    return
                self.log.info("Model %s: labelled %s of planned %s; next look in %ss", self.model, labelled,
                              self.plan["rows"], self.poll_seconds)
                await asyncio.sleep(self.poll_seconds)
        except Exception as err:  # noqa: BLE001 - any failure becomes an error event the task reports
            yield TriggerEvent({"status": "error", "message": f"model '{self.model}': {type(err).__name__}: {err}"})
