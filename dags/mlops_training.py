"""
### mlops_training

Weekly training (Mondays 03:00 UTC) of every configured model (`include/models/*.yaml`), one task group per model:
**validate → train → evaluate → register → promote**.

- *train* runs the model's trainer in an MLflow run (experiment `mlops/<model>`).
- *evaluate* scores the candidate and the current `champion` on the same holdout.
- *register* creates one registered-model version per DAG run (a retry finds it) with alias `challenger`.
- *approve* (only for a model with `gate.approval.required`) waits, holding no worker slot, for a person to
  approve or reject in Required Actions or with `mlops approve|reject MODEL VERSION`; a rejection skips *promote*.
- *promote* moves `champion` (keeping `previous_champion`) only when the gate passes, and then
  updates the `x-mlops://<model>/champion` asset, which starts `mlops_deployment`.

One model's failure does not stop the others. Connection: `mlflow_default`.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag

from mlops_provider.pipeline import model_pipeline
from mlops_provider.settings import default_args, model_names


@dag(
    # Mondays 03:00 UTC. catchup=False: unpausing runs at most the latest slot, never a backlog.
    schedule=CronTriggerTimetable("0 3 * * 1", timezone="UTC"),
    catchup=False,
    max_active_runs=1,
    description="Weekly: validate, train, evaluate, register and promote every configured model.",
    doc_md=__doc__,
    tags=["mlops", "training"],
    default_args=default_args(),
)
def mlops_training() -> None:
    for model in model_names():
        model_pipeline(model, reason="schedule")


mlops_training()
