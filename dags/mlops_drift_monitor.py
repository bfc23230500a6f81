"""
### mlops_drift_monitor

Hourly, for every configured model: one mapped task group `model` per `include/models/*.yaml`, so one
model's missing traffic or failed check stops only that model's report and event, never another model's:

1. **check_drift** (`DriftSensor`, deferrable): waits in the triggerer, holding no worker slot, until
   the model's newest inference window has `drift.min_rows` rows, then compares it with the reference
   profile of the version being served (alias `serving_<target>`, else `champion`) using the fast
   Evidently-compatible engine. Too little traffic within 45 minutes: skipped.
2. **drift_report**: Evidently's HTML/JSON drift report of the same window, logged to MLflow; the
   task's "Drift report" link opens it.
3. **emit_drift_event**: on dataset drift, emits `x-mlops://<model>/drift` with the drift summary as
   extra, which starts `mlops_retraining`; a per-model cooldown (`drift.cooldown_minutes`) stops one
   drift episode from starting a flood of retrains. It counts from the last drift event Airflow recorded,
   so a try that fails after deciding to emit starts no cooldown, and its retry emits.

Connection: `mlflow_default`. Inference windows: `data.inference` of each model config.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import AssetAlias, CronTriggerTimetable, dag, task_group

from mlops_provider.operators.drift import DRIFT_ALIAS, EmitDriftEventOperator, ReportDriftOperator
from mlops_provider.sensors.drift import DriftSensor
from mlops_provider.settings import default_args, model_names

BY_MODEL = "{{ task.model }}"
BY_CHECKED_MODEL = "{{ task.check['model'] }}"


@dag(
    # every hour at :05. catchup=False: unpausing runs at most the latest slot, never a backlog.
    schedule=CronTriggerTimetable("5 * * * *", timezone="UTC"),
    catchup=False,
    max_active_runs=1,
    description="Hourly: drift of each model's latest inference window, Evidently report, drift event.",
    doc_md=__doc__,
    tags=["mlops", "drift", "monitoring"],
    default_args=default_args(timeout_minutes=15, backoff=False),
)
def mlops_drift_monitor() -> None:
    @task_group(group_id="model")
    def per_model(model: str) -> None:
        # mapped instances are labelled by model in the grid (`model.drift_report [credit_default]`, not `[1]`);
        # inside a mapped group each task waits only for its own model's tasks
        check = DriftSensor(task_id="check_drift", model=model, timeout=45 * 60, poke_interval=60,
                            execution_timeout=timedelta(minutes=55), map_index_template=BY_MODEL)
        report = ReportDriftOperator(task_id="drift_report", check=check.output, map_index_template=BY_CHECKED_MODEL)
        EmitDriftEventOperator(task_id="emit_drift_event", check=report.output, outlets=[AssetAlias(DRIFT_ALIAS)],
                               map_index_template=BY_CHECKED_MODEL)

    per_model.expand(model=model_names())


mlops_drift_monitor()
