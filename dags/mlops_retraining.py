"""
### mlops_retraining

Retrains one model on request; never on a clock. Started by

- a **drift event** (`x-mlops://<model>/drift`, emitted by `mlops_drift_monitor`) or a **performance
  event** (`x-mlops://<model>/performance`, emitted by `mlops_performance_monitor` when its policy says
  retrain): the model comes from the asset, the reason from its kind, the evidence from the event;
- the **REST API** (monitors, `mlops trigger`) or the UI's trigger form, with `conf`
  `{"model": ..., "reason": "drift" | "performance" | "schedule" | "manual", "requested_by": ...,
  "drift": {...}}`. The `dag_run_id` is the idempotency key: a repeated one answers 409.

A request for a model retrained successfully less than `drift.cooldown_minutes` ago is recorded
(this run) and skipped with the reason in the log; `manual` requests are never held back. A request
without a model, or for a model that has no config, fails its `request` task once (no retry), naming the
model. Retrainings of different models run side by side (up to four at once); a request for a model that another
run is retraining (for example one waiting for a person's approval) is skipped with the holding run named, so
two triggers never train a model twice at once and a pending approval holds up no other model.

Then the same per-model chain as `mlops_training` (one definition, `mlops_provider.pipeline`):
**validate → train → evaluate → register → promote** (with **approve** between register and promote when any
model sets `gate.approval.required`; it passes at once for the others), with the reason, the requester and the drift
summary recorded as tags of the new model version.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import AssetAny, Param, dag, task

from mlops_provider.assets import drift_asset, performance_asset
from mlops_provider.config import approval_required
from mlops_provider.pipeline import model_pipeline
from mlops_provider.retraining import REASONS, REQUESTED_BY_PATTERN
from mlops_provider.settings import default_args, model_names

MODELS = model_names()


@dag(
    schedule=AssetAny(*(drift_asset(model) for model in MODELS), *(performance_asset(model) for model in MODELS))
    if MODELS else None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,  # one model at a time each: see `request`
    description="Retrain one model on a drift event or a REST/UI request: validate, train, gate, promote.",
    doc_md=__doc__,
    tags=["mlops", "training", "retraining"],
    default_args=default_args(),
    params={
        # Required, yet null is valid: a drift-event run has no conf, and Airflow validates every run's params
        # (the model then comes from the event). So the configured names are `examples` (the form proposes them,
        # without a null choice) and a `pattern` rejects any other name; a run without one fails `request` once.
        "model": Param(None, type=["null", "string"], examples=MODELS, pattern=f"^({'|'.join(MODELS)})$",
                       title="Model", description="Which configured model to retrain (include/models/<model>.yaml)."),
        "reason": Param("manual", type="string", enum=list(REASONS), title="Reason",
                        description="Why: recorded as the new version's mlops.reason tag."),
        "requested_by": Param("ui", type="string", pattern=REQUESTED_BY_PATTERN, title="Requested by",
                              description="Short id of the person or monitor asking (letters, digits, _.@:-)."),
        "drift": Param(None, type=["null", "object"], title="Drift summary",
                       description="Optional drift summary from the monitor; recorded as the mlops.drift tag."),
    },
)
def mlops_retraining() -> None:
    @task(multiple_outputs=True)
    def request(params: Any = None, dag_run: Any = None, triggering_asset_events: Any = None) -> dict[str, Any]:
        """Resolve the model, reason and drift summary of this run; skip it during the model's cooldown."""
        from datetime import UTC, datetime

        from airflow.sdk import Variable
        from airflow.sdk.exceptions import AirflowSkipException

        from mlops_provider.config import load_model_config
        from mlops_provider.cooldown import (
            LAST_RETRAINING_VARIABLE,
            RUNNING_RETRAINING_VARIABLE,
            retraining_block,
            retraining_in_progress,
        )
        from mlops_provider.operators.base import fail_without_retry
        from mlops_provider.retraining import resolve_request

        # a request for a missing or unknown model fails the same way on every try: fail once, so the
        # requests queued behind this run (max_active_runs) are not held up by its retries
        with fail_without_retry():
            wanted = resolve_request(dict(params or {}), dag_run.conf if dag_run else None,
                                     triggering_asset_events)
            config = load_model_config(wanted["model"], check_paths=False)
        last = Variable.get(LAST_RETRAINING_VARIABLE.format(model=config.name), default=None)
        blocked = retraining_block(wanted, last_success=last, cooldown_minutes=config.drift.cooldown_minutes,
                                 now=datetime.now(UTC))
        if blocked:
            raise AirflowSkipException(blocked)
        running = RUNNING_RETRAINING_VARIABLE.format(model=config.name)
        holder = Variable.get(running, default=None)
        state = _run_state(dag_run.dag_id, holder) if holder and holder != dag_run.run_id else None
        busy = retraining_in_progress(config.name, run_id=dag_run.run_id, holder=holder, holder_state=state)
        if busy:
            raise AirflowSkipException(busy)
        # best effort, not a lock: two requests for one model within the same second may both run (each version
        # is then registered and judged like any other, under the promotion lock)
        Variable.set(running, dag_run.run_id)
        return wanted

    def _run_state(dag_id: str, run_id: str) -> str | None:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        try:
            state = RuntimeTaskInstance.get_dagrun_state(dag_id, run_id)
            return str(getattr(state, "value", state))  # the SDK's DagRunState prints as "DagRunState.RUNNING"
        except Exception as err:  # a run deleted since holds nothing
            import logging

            logging.getLogger(__name__).warning("run %s of %s holds no model: its state could not be read "
                                                "(%s: %s)", run_id, dag_id, type(err).__name__, err)
            return None

    @task
    def record_success(model: str) -> str:
        """Start the model's retraining cooldown (only reached when the whole chain succeeded)."""
        from datetime import UTC, datetime

        from airflow.sdk import Variable

        from mlops_provider.cooldown import LAST_RETRAINING_VARIABLE

        now = datetime.now(UTC).isoformat()
        Variable.set(LAST_RETRAINING_VARIABLE.format(model=model), now)
        return now

    wanted = request()
    # the model is known at run time only: an approve task when any model may need one (it passes at once for
    # a model that does not), today's chain when none does
    pipeline = model_pipeline(wanted["model"], reason=wanted["reason"], group_id="retrain",
                              extra_tags=wanted["tags"], approval=any(approval_required(m) for m in MODELS))
    wanted >> pipeline >> record_success(wanted["model"])


mlops_retraining()
