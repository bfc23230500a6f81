"""`lifecycle` of a model config: the archive rule and the retirement plan (read by `mlops_provider.lifecycle`,
the `mlops_lifecycle` DAG and `mlops lifecycle MODEL`). Pydantic only: `config` imports this module."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


RETIREMENT_PHASES = ("deprecate", "reduce_traffic", "migrate", "stop")


class RetirementPhase(_Strict):
    """One dated step of a retirement plan. The lifecycle DAG acts on it once, on or after `on` (UTC)."""

    phase: Literal["deprecate", "reduce_traffic", "migrate", "stop"]
    on: date = Field(description="the day (UTC) the phase acts: YYYY-MM-DD")
    traffic_percent: int | None = Field(None, ge=0, le=99, description="reduce_traffic only: the model's share of "
                                        "the traffic from this day (a routing hint, see docs/lifecycle.md)")
    message: str = Field("", max_length=1000, description="said in the phase's alert")

    @model_validator(mode="after")
    def _percent_for_reductions(self) -> RetirementPhase:
        if self.phase == "reduce_traffic" and self.traffic_percent is None:
            raise ValueError("a reduce_traffic phase needs `traffic_percent`")
        if self.phase != "reduce_traffic" and self.traffic_percent is not None:
            raise ValueError(f"`traffic_percent` belongs to reduce_traffic phases, not {self.phase}")
        return self


class RetirementPlan(_Strict):
    """A model's way out: phases in date order and in the order deprecate, reduce_traffic..., migrate, stop
    (each optional, deprecate/migrate/stop at most once), reductions strictly decreasing. Whether a phase is in
    the past is judged when the plan is first recorded (`lifecycle.plan.record_plan`), not on every parse."""

    replaced_by: str | None = Field(None, description="the configured model that takes over (named in alerts)")
    phases: list[RetirementPhase] = Field(min_length=1)

    @field_validator("replaced_by")
    @classmethod
    def _model_name(cls, value: str | None) -> str | None:
        from mlops_provider.config import MODEL_NAME  # loaded already: config imports this module

        if value is not None and not MODEL_NAME.match(value):
            raise ValueError(f"'{value}' is not a model name (the replacement's config file name)")
        return value

    @field_validator("phases")
    @classmethod
    def _ordered(cls, phases: list[RetirementPhase]) -> list[RetirementPhase]:
        rank = {name: index for index, name in enumerate(RETIREMENT_PHASES)}
        for index, (a, b) in enumerate(zip(phases, phases[1:], strict=False), start=1):
            where = f"phase {index} ({b.phase} on {b.on})"
            if b.on < a.on:
                raise ValueError(f"{where} comes before phase {index - 1} ({a.phase} on {a.on}): list the phases "
                                 "in date order")
            if rank[b.phase] < rank[a.phase] or (b.phase == a.phase and b.phase != "reduce_traffic"):
                raise ValueError(f"{where} follows {a.phase}: phases go {' -> '.join(RETIREMENT_PHASES)} "
                                 "(reduce_traffic may repeat, the others come once)")
            if a.phase == b.phase == "reduce_traffic" and (b.traffic_percent or 0) >= (a.traffic_percent or 0):
                raise ValueError(f"{where}: traffic_percent {b.traffic_percent} after {a.traffic_percent}: each "
                                 "reduction must be lower than the one before")
        return phases


class LifecycleConfig(_Strict):
    """Archive rules and the retirement plan of a model (`mlops_lifecycle` DAG, `mlops lifecycle MODEL`)."""

    archive_after_days: int | None = Field(None, ge=0, le=3650, description="archive versions that have held no "
                                           "alias for this many days (never champion, previous_champion or any "
                                           "other aliased version); null: no archive rule")
    retirement: RetirementPlan | None = Field(None, description="the dated plan that phases the whole model out")

