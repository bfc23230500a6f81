"""
### mlops_performance_monitor

Hourly, for every configured model (one mapped task group `model` per `include/models/*.yaml`, so one
model's failure never stops another's), the production feedback loop:

1. **check_production** (`CheckProductionOperator`): ingests the labels dropped in the model's labels inbox,
   waits (deferred, holding no worker slot) up to `monitor.label_wait_minutes` for
   `monitor.performance.min_labels` labelled predictions of the served version, then measures it over the last
   `monitor.window_hours`: realized performance on the labels that arrived (with an interval), performance
   estimated by CBPE on every prediction (before labels arrive), prediction and confidence drift against the
   version's holdout. The numbers go to the version's monitoring run in MLflow (a curve per metric) and to its
   `mlops.monitor` tag; the model's `monitor` policy gives the verdict.
2. **act** (`ActOnPolicyOperator`): what the verdict asks for, in the config's order: **alert** (Slack
   webhook, HTTP, SMTP notifiers), **rollback** (`x-mlops://<model>/rollback` -> `mlops_deployment` deploys
   `previous_champion`), **retrain** (`x-mlops://<model>/performance` -> `mlops_retraining`, reason
   `performance`). Each action at most once per `monitor.cooldown_minutes`.

Connection: `mlflow_default`, and the connections the models' `alerts` name. Labels: `data.labels`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import AssetAlias, CronTriggerTimetable, dag, task_group

from mlops_provider.operators.production import POLICY_ALIAS, ActOnPolicyOperator, CheckProductionOperator
from mlops_provider.settings import default_args, model_names


@dag(
    # every hour at :20, after the drift monitor's :05. catchup=False: at most the latest slot.
    schedule=CronTriggerTimetable("20 * * * *", timezone="UTC"),
    catchup=False,
    max_active_runs=1,
    description="Hourly: realized and estimated performance, prediction drift; alert, roll back or retrain.",
    doc_md=__doc__,
    tags=["mlops", "monitoring", "performance"],
    default_args=default_args(timeout_minutes=15, backoff=False),
)
def mlops_performance_monitor() -> None:
    @task_group(group_id="model")
    def per_model(model: str) -> None:
        # mapped instances are labelled by model in the grid (`model.act [credit_default]`, not `[1]`);
        # inside a mapped group each task waits only for its own model's tasks
        check = CheckProductionOperator(task_id="check_production", model=model,
                                        execution_timeout=timedelta(minutes=55), map_index_template="{{ task.model }}")
        ActOnPolicyOperator(task_id="act", result=check.output, outlets=[AssetAlias(POLICY_ALIAS)],
                            map_index_template="{{ task.result['check']['model'] }}")

    per_model.expand(model=model_names())


mlops_performance_monitor()
