"""
### mlops_deployment

Runs when a model's `champion` moves (the `x-mlops://<model>/champion` asset, updated by the promote task
of `mlops_training` / `mlops_retraining`), when the performance monitor rolls a degraded model back
(`x-mlops://<model>/rollback`, the version in the event), or by hand with `{"model": ..., "version": ...}` (a version
number, or leave it empty for the current champion: that is how to roll back by hand).

1. **release**: which models and versions to deploy, one per model whose champion moved; then, per release (one
   mapped group, labelled by model in the grid):
2. **deploy_staging**: for a model with `deploy.environments`, every environment before production in order
   (staging): deployed like production below, then verified by that target's own status before the next one
   starts. A failure there fails the release with production untouched. Nothing to do for a single-target model;
3. **deploy**: to production, the model's `deploy.target` (`local`, `kubernetes`, `sagemaker`) or its last
   environment, with its `deploy.strategy` (`rolling`, `blue_green`, `canary`), smoke-tested before it takes
   traffic and at every canary step, then recorded as the registry alias `serving_<target>` (`serving_production`
   with environments: what the drift and performance monitors compare against). Refused unless every environment
   before production records the version. On failure the target rolls back, the previous version keeps serving,
   the failed version is tagged `mlops.deploy.<target or environment>.failed` with the reason, and the task fails
   without retry;
4. **verify**: the target's own status must show the new version serving all traffic and recorded.

One run at a time (`max_active_runs=1`), so a model never has two deployments in flight.
Connection: `mlflow_default` (and `kubernetes_default` / `aws_default` for those targets).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import AssetAny, Param, dag, task, task_group

from mlops_provider.assets import champion_asset, rollback_asset
from mlops_provider.operators.deployment import BEFORE_PRODUCTION, DeployModelOperator
from mlops_provider.settings import default_args, model_names

MODELS = model_names()
BY_MODEL = "{{ task.model }}"


@dag(
    schedule=AssetAny(*(champion_asset(model) for model in MODELS), *(rollback_asset(model) for model in MODELS))
    if MODELS else None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    description="Deploy a new champion (or a version by hand): deploy, verify, shift traffic or roll back.",
    doc_md=__doc__,
    tags=["mlops", "deployment"],
    default_args=default_args(retries=1, backoff=False),
    params={
        "model": Param(None, type=["null", "string"], enum=[None, *MODELS], title="Model",
                       description="Deploy this model by hand (otherwise: the models whose champion moved)."),
        "version": Param(None, type=["null", "string"], pattern=r"^[0-9]+$", title="Version",
                         description="Registered version to deploy by hand, e.g. to roll back "
                                     "(default: the model's champion)."),
    },
)
def mlops_deployment() -> None:
    @task
    def release(params: Any = None, triggering_asset_events: Any = None) -> list[dict[str, str]]:
        """The models and versions this run deploys."""
        from mlops_provider.deployment_request import resolve_releases

        return resolve_releases(dict(params or {}), triggering_asset_events)

    @task
    def verify(result: dict[str, Any]) -> str:
        """The target's status agrees: the new version serves all traffic in production and is recorded."""
        from mlops_provider.deployment_request import verify_served
        from mlops_provider.hooks.mlflow import MLflowHook

        with MLflowHook().fluent():
            return verify_served(result["model"], result)

    # one group per release: a model's tasks wait only for its own, so one model's failure stops no other model;
    # the group adds no prefix, so the task ids stay `deploy` and `verify`
    @task_group(group_id="rollout", prefix_group_id=False)
    def rollout(model: str, version: str) -> None:
        staged = DeployModelOperator(task_id="deploy_staging", model=model, version=version,
                                     environment=BEFORE_PRODUCTION, map_index_template=BY_MODEL)
        deployed = DeployModelOperator(task_id="deploy", model=model, version=version, map_index_template=BY_MODEL)
        staged >> deployed
        verify.override(map_index_template="{{ task.op_kwargs['result']['model'] }}")(result=deployed.output)

    rollout.expand_kwargs(release())

mlops_deployment()
