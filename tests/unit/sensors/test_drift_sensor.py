"""DriftSensor: its defaults, deferring to an InferenceWindowTrigger, and what it does with the trigger's event."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowSkipException, TaskDeferred

from mlops_provider.sensors.drift import DriftSensor
from mlops_provider.triggers.drift import InferenceWindowTrigger


def test_defaults_wait_deferred_and_skip_when_traffic_stays_low() -> None:
    sensor = DriftSensor(task_id="check", model="toy")

    assert sensor.template_fields == ("model",)
    assert (sensor.model, sensor.min_rows, sensor.window_minutes, sensor.deferrable) == ("toy", None, None, True)
    assert (sensor.mode, sensor.poke_interval, sensor.timeout, sensor.soft_fail) == ("reschedule", 60, 3000, True)
    custom = DriftSensor(task_id="c", model="toy", min_rows=10, window_minutes=5, deferrable=False, timeout=60)
    assert (custom.min_rows, custom.window_minutes, custom.deferrable, custom.timeout) == (10, 5, False, 60)


def test_too_few_rows_defers_to_an_inference_window_trigger(toy_model: str, tmp_path: object) -> None:
    sensor = DriftSensor(task_id="check", model=toy_model, poke_interval=5)

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})

    assert deferred.value.method_name == "execute_complete"
    trigger = deferred.value.trigger
    assert isinstance(trigger, InferenceWindowTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "mlops_provider.triggers.drift.InferenceWindowTrigger"
    assert (kwargs["model"], kwargs["min_rows"], kwargs["window_minutes"], kwargs["poke_interval"]) == (
        "toy", 50, 60, 5.0)
    assert kwargs["folder"].endswith("/inference")


def test_poking_with_too_few_rows_is_not_done(toy_model: str) -> None:
    sensor = DriftSensor(task_id="check", model=toy_model, deferrable=False, min_rows=1)

    assert sensor.poke({}).is_done is False


def test_a_timeout_event_skips_the_task() -> None:
    sensor = DriftSensor(task_id="check", model="toy")
    with pytest.raises(AirflowSkipException, match="not enough traffic to judge drift: model 'toy': 3 of 50 rows"):
        sensor.execute_complete({}, {"status": "timeout", "rows": 3, "message": "model 'toy': 3 of 50 rows"})


@pytest.mark.parametrize(("event", "message"), [
    (None, "model 'toy': the drift sensor resumed without a trigger event"),
    ({"status": "error", "message": "model 'toy': OSError: bucket gone"}, "model 'toy': OSError: bucket gone"),
    ({"status": "error"}, "model 'toy': the inference-window trigger failed without a message"),
    ({"status": "success"}, "model 'toy': unexpected event from the inference-window trigger"),
    ({"status": "later"}, "model 'toy': unexpected event from the inference-window trigger"),
])
def test_an_error_or_malformed_event_fails_with_a_clear_message(event: dict | None, message: str) -> None:
    sensor = DriftSensor(task_id="check", model="toy")
    with pytest.raises(AirflowException, match=message) as info:
        sensor.execute_complete({}, event)
    assert not isinstance(info.value, AirflowSkipException)
