"""DriftSensor: waits (deferred, no worker slot) for a full inference window, then tests it for drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from mlops_provider.hooks.mlflow import MLflowHook
from mlops_provider.operators.base import MLflowHookMixin, fail_without_retry

if TYPE_CHECKING:
    from mlops_provider.xcom import DriftCheck


class DriftSensor(MLflowHookMixin, BaseSensorOperator):
    """Wait until the newest inference window of `model` has at least `min_rows` rows, then compare it with
    the reference profile of the version being served.

    Returns the check (`{model, version, rows, drifted, result, windows, ...}`): drift or not is in the
    result, not an exception. Not enough traffic before `timeout`: skipped.

    :param model: name of the model's config file in `include/models/` (templated).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    :param min_rows: rows the window needs before it is judged (default: the model's `drift.min_rows`).
    :param window_minutes: how far back the window reaches (default: the model's `drift.window_minutes`).
    :param deferrable: wait in the triggerer (an `InferenceWindowTrigger`) instead of poking in
        `reschedule` mode.
    """

    template_fields = ("model",)
    ui_color = "#f9e4d7"

    def __init__(self, *, model: str, mlflow_conn_id: str = MLflowHook.default_conn_name,
                 min_rows: int | None = None, window_minutes: int | None = None, deferrable: bool = True,
                 **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        kwargs.setdefault("poke_interval", 60)
        kwargs.setdefault("timeout", 50 * 60)
        kwargs.setdefault("soft_fail", True)
        super().__init__(**kwargs)
        self.model = model
        self.mlflow_conn_id = mlflow_conn_id
        self.min_rows = min_rows
        self.window_minutes = window_minutes
        self.deferrable = deferrable

    def _config(self) -> Any:
        from mlops_provider.config import load_model_config

        with fail_without_retry():
            return load_model_config(self.model, check_paths=False)

    def _window(self, config: Any) -> tuple[str, int, int]:
        from mlops_provider.inference_log import inference_uri

        return (inference_uri(config), self.min_rows or config.drift.min_rows,
                self.window_minutes or config.drift.window_minutes)

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from mlops_provider.triggers.drift import InferenceWindowTrigger, window_rows

        config = self._config()
        folder, min_rows, minutes = self._window(config)
        windows, rows = window_rows(folder, minutes, config.data.conn_id)
        if rows >= min_rows:
            return self._check(config, windows)
        deadline = datetime.now(UTC) + timedelta(seconds=float(self.timeout or 3000))
        self.log.info("Model %s: %d of %d rows in the last %d minutes of %s; deferring", self.model, rows,
                      min_rows, minutes, folder)
        self.defer(
            trigger=InferenceWindowTrigger(model=config.name, folder=folder, min_rows=min_rows,
                                           window_minutes=minutes, deadline=deadline.isoformat(),
                                           poke_interval=float(self.poke_interval), conn_id=config.data.conn_id),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: check the windows it found; a timeout skips, an error fails."""
        from airflow.sdk.exceptions import AirflowException, AirflowSkipException

        if not event:
            raise AirflowException(f"model '{self.model}': the drift sensor resumed without a trigger event")
        status = event.get("status")
        if status == "timeout":
            raise AirflowSkipException(f"not enough traffic to judge drift: {event.get('message')}")
        if status == "error":
            raise AirflowException(event.get("message") or f"model '{self.model}': the inference-window trigger "
                                   "failed without a message")
        if status != "success" or not isinstance(event.get("windows"), list):
            raise AirflowException(f"model '{self.model}': unexpected event from the inference-window trigger: "
                                   f"{event!r}")
        return self._check(self._config(), event["windows"])

    def poke(self, context: Any) -> PokeReturnValue:
        from mlops_provider.triggers.drift import window_rows

        config = self._config()
        folder, min_rows, minutes = self._window(config)
        windows, rows = window_rows(folder, minutes, config.data.conn_id)
        if rows < min_rows:
            self.log.info("Model %s: %d of %d rows so far", self.model, rows, min_rows)
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=self._check(config, windows))

    def _check(self, config: Any, window_uris: list[str]) -> DriftCheck:
        from mlops_provider.inference_log import windows_at
        from mlops_provider.monitoring import check_drift

        windows = windows_at(window_uris, conn_id=config.data.conn_id)
        with fail_without_retry():
            check = check_drift(config, self.hook.get_conn(), windows)
        self.log.info("Model %s v%s, %d rows: %s", config.name, check["version"], check["rows"],
                      check["result"]["summary"])
        return check
