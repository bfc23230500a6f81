"""
### mlops_experiment

An A/B test of a model's `challenger` against its `champion`, to a verdict. Runs when the promote task of
`mlops_training` / `mlops_retraining` makes a candidate challenger (the `x-mlops://<model>/challenger` asset; only
for a model with an `experiment:` block), or by hand with `{"model", "challenger", "overrides"}`.

1. **plan**: the metric, the minimum detectable effect, alpha, power and the split, stated before the data, give the
   labelled rows each arm needs (the variance from the champion's holdout). Refused when there is no challenger,
   the split does not sum to 100, or the traffic cannot label that many rows before the deadline.
2. **split**: the challenger is loaded beside the champion on the model's local server; requests are routed by a
   hash of their `x-routing-key` header (sticky per key) with the planned weights.
3. **wait** (deferred): until both arms have their planned labelled rows, the deadline, or a guardrail stops it.
4. **decide**: sample-ratio mismatch or labels for one arm only make it `invalid`; else the fixed-horizon test
   gives `win`, `lose` or `inconclusive` (effect, interval, p-value).
5. **act**: `win` makes the challenger champion (then `mlops_deployment` rolls it out to all traffic); otherwise
   the champion takes all traffic again and the challenger is unloaded and loses its alias.
6. **record**: `mlops.experiment.*` tags on both versions and a Markdown/HTML report in MLflow.

Connection: `mlflow_default`. See docs/experiments.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import AssetAny, Param, dag, task

from mlops_provider.assets import challenger_asset
from mlops_provider.operators.experiment import (
    ActOnExperimentOperator,
    DecideExperimentOperator,
    PlanExperimentOperator,
    RecordExperimentOperator,
    SplitTrafficOperator,
    WaitForSampleOperator,
)
from mlops_provider.settings import default_args, model_names

MODELS = model_names()


@dag(
    schedule=AssetAny(*(challenger_asset(model) for model in MODELS)) if MODELS else None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    description="A/B test the challenger against the champion to a verdict: plan, split, wait, decide, act.",
    doc_md=__doc__,
    tags=["mlops", "experiment"],
    default_args=default_args(retries=1, backoff=False),
    params={
        "model": Param(None, type=["null", "string"], enum=[None, *MODELS], title="Model",
                       description="Test this model's challenger by hand (otherwise: the model whose challenger "
                                   "was promoted)."),
        "challenger": Param(None, type=["null", "string"], pattern=r"^[0-9]+$", title="Challenger version",
                            description="The version to test (default: the `challenger` alias)."),
        "overrides": Param({}, type="object", title="Overrides",
                           description="Replace `experiment:` keys for this run: champion_percent, "
                                       "challenger_percent, minimum_detectable_effect, alpha, power, "
                                       "deadline_hours, metric."),
    },
)
def mlops_experiment() -> None:
    @task(multiple_outputs=True)
    def which(params: Any = None, triggering_asset_events: Any = None) -> dict[str, Any]:
        """The model and challenger this run tests: the Params, else the challenger event."""
        from mlops_provider.experiments.request import resolve_request

        return resolve_request(dict(params or {}), triggering_asset_events)

    request = which()
    model = request["model"]
    plan = PlanExperimentOperator(task_id="plan", model=model, challenger=request["challenger"],
                                  overrides=request["overrides"])
    split = SplitTrafficOperator(task_id="split", model=model, plan=plan.output)
    # deferred until the plan's deadline (at most `experiment.deadline_hours` <= 90 days): a deferred task's
    # trigger is cut at its execution_timeout, so the 30-minute default would end every longer experiment
    wait = WaitForSampleOperator(task_id="wait", model=model, plan=split.output,
                                 execution_timeout=timedelta(days=91))
    decide = DecideExperimentOperator(task_id="decide", model=model, plan=split.output, wait=wait.output)
    act = ActOnExperimentOperator(task_id="act", model=model, result=decide.output)
    record = RecordExperimentOperator(task_id="record", model=model, result=decide.output)
    act >> record


mlops_experiment()
