"""
### mlops_lifecycle

Daily, for every configured model (one mapped task group `model` per `include/models/*.yaml`, so one
model's failure never stops another's):

1. **archive** (`ArchiveVersionsOperator`): with `lifecycle.archive_after_days: N`, the versions that have
   held no alias of any kind for N days are archived: tagged `mlops.lifecycle.archived` (when, why, what was
   removed) and their serving objects removed (a local server's loaded version, Kubernetes Deployments,
   SageMaker endpoint configs and models). Never the champion or previous_champion: a rule that would touch
   one fails, archiving nothing.
2. **retire** (`RetirementPhaseOperator`): with `lifecycle.retirement`, the phases due today (or missed
   before), each once: deprecate, reduce_traffic, migrate, stop. Each records what it did on the registered
   model and alerts the model's `alerts` (kind `lifecycle`). A new plan with a phase in the past fails.

See docs/lifecycle.md; `mlops lifecycle MODEL` shows the plan. Connection: `mlflow_default`.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag, task_group

from mlops_provider.operators.lifecycle import ArchiveVersionsOperator, RetirementPhaseOperator
from mlops_provider.settings import default_args, model_names

BY_MODEL = "{{ task.model }}"


@dag(
    # every day at 06:30 UTC. catchup=False: a missed day is not replayed; an overdue phase acts on the next run.
    schedule=CronTriggerTimetable("30 6 * * *", timezone="UTC"),
    catchup=False,
    max_active_runs=1,
    description="Daily: archive versions nothing uses, run the retirement phases that are due.",
    doc_md=__doc__,
    tags=["mlops", "lifecycle"],
    default_args=default_args(timeout_minutes=30),
)
def mlops_lifecycle() -> None:
    @task_group(group_id="model")
    def per_model(model: str) -> None:
        archive = ArchiveVersionsOperator(task_id="archive", model=model, map_index_template=BY_MODEL)
        # a refused archive rule does not hold up a dated retirement phase
        retire = RetirementPhaseOperator(task_id="retire", model=model, map_index_template=BY_MODEL,
                                         trigger_rule="all_done")
        archive >> retire

    per_model.expand(model=model_names())


mlops_lifecycle()
