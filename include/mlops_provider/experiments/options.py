"""`experiment` of a model config: the A/B test that decides a promoted challenger (read by
`mlops_provider.experiments`, the `mlops_experiment` DAG and the promote step). Pydantic only: `config` imports
this module."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

# What the local server hashes for a sticky split: the `x-routing-key` header, else the request body itself.
DEFAULT_ROUTING_KEY = "x-routing-key header (without one: the request body)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ExperimentGuardrails(_Strict):
    """Stop an experiment early (decision `stopped`) when the challenger misbehaves, judged at every poll."""

    max_error_rate: float | None = Field(None, ge=0, le=1, description="share of the challenger's requests that "
                                         "failed (HTTP 500) above which the experiment stops")
    max_latency_mean_ms: float | None = Field(None, gt=0, description="the challenger's mean latency per request "
                                              "above this stops the experiment (the local server keeps a sum of "
                                              "seconds per version, not a distribution: no p95)")
    min_requests: int = Field(20, ge=1, description="guardrails judge the challenger after this many requests")


class ExperimentConfig(_Strict):
    """An A/B experiment decides a promoted challenger (`mlops_experiment`): the gate's promote step points
    `challenger` at it and the champion moves only when the challenger wins."""

    challenger_percent: int = Field(10, ge=1, le=99, description="share of the traffic (percent) the challenger gets")
    routing_key: str = Field(DEFAULT_ROUTING_KEY, min_length=1, description="what clients send in the "
                             "`x-routing-key` header (e.g. a customer id): one key always meets the same arm")
    metric: str | None = Field(None, description="the metric judged (default: the gate's primary metric)")
    minimum_detectable_effect: float = Field(gt=0, description="the smallest difference of the metric worth "
                                             "detecting, in its own unit (e.g. 0.02 of roc_auc)")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="two-sided false-positive rate")
    power: float = Field(0.8, ge=0.5, lt=1, description="chance of detecting a true difference of the MDE")
    deadline_hours: float = Field(72, gt=0, le=24 * 90, description="decide with what has arrived by then")
    guardrails: ExperimentGuardrails = ExperimentGuardrails()
    poll_minutes: float = Field(5, gt=0, le=24 * 60, description="minutes between two looks at the logged and "
                                "labelled traffic while waiting (deferred)")

    @field_validator("metric")
    @classmethod
    def _metric_known(cls, value: str | None) -> str | None:
        from mlops_provider.config import _known_metric  # config imports this module: read at validation time

        return _known_metric(value)
