"""A retirement plan's state: each phase done, due or pending; the plan recorded on the registered model when the
lifecycle first sees it; and the checks a plan must pass then.

When is a phase "in the past"? Judged once, when a plan (this exact plan: its digest) is first recorded, by the
lifecycle DAG (`mlops_lifecycle`) or shown by `mlops lifecycle MODEL --check`: every phase not done yet must be
dated today (UTC) or later. Once recorded, a plan is not judged again, so an old plan that already ran does not
fail, and a phase the DAG missed (Airflow was down that day) is overdue: it acts on the next run. Editing the plan
changes its digest: the new plan is judged again, phases already done excepted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import LifecycleRefused
from mlops_provider.tracking import TAG_LIFECYCLE_PHASE, TAG_LIFECYCLE_PLAN

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig
    from mlops_provider.lifecycle.options import RetirementPlan


@dataclass(frozen=True)
class PhaseState:
    """One phase of the plan and where it stands: `done` (with when and what it did), `due` (dated today or
    earlier, not done: the next lifecycle run acts) or `pending`."""

    index: int
    phase: str
    on: str
    traffic_percent: int | None
    message: str
    state: str
    done_at: str | None = None
    did: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def today() -> date:
    return datetime.now(UTC).date()


def plan_digest(plan: RetirementPlan) -> str:
    return hashlib.sha256(plan.model_dump_json().encode()).hexdigest()[:16]


def _tags(client: MlflowClient, model: str) -> dict[str, str]:
    return dict(client.get_registered_model(model).tags or {})


def recorded_plan(client: MlflowClient, model: str) -> dict[str, Any] | None:
    """`{digest, recorded_at}` of the plan as the lifecycle recorded it, or None."""
    raw = _tags(client, model).get(TAG_LIFECYCLE_PLAN)
    return json.loads(raw) if raw else None


def done_phases(client: MlflowClient, model: str, plan: RetirementPlan) -> dict[int, dict[str, Any]]:
    """The plan's phases recorded as done, by index. A record counts only for the same phase on the same day, so
    a phase added to an edited plan at an index that was done before is not taken for done."""
    tags = _tags(client, model)
    done = {}
    for index, phase in enumerate(plan.phases):
        raw = tags.get(TAG_LIFECYCLE_PHASE.format(index=index))
        if not raw:
            continue
        found = json.loads(raw)
        if found.get("phase") == phase.phase and found.get("on") == phase.on.isoformat():
            done[index] = found
    return done


def phase_states(plan: RetirementPlan, done: dict[int, dict[str, Any]], on: date | None = None) -> list[PhaseState]:
    on = on or today()
    states = []
    for index, phase in enumerate(plan.phases):
        record = done.get(index)
        state = "done" if record else ("due" if phase.on <= on else "pending")
        states.append(PhaseState(index, phase.phase, phase.on.isoformat(), phase.traffic_percent, phase.message,
                                 state, (record or {}).get("done_at"), tuple((record or {}).get("did", ()))))
    return states


def plan_problems(config: ModelConfig, done: dict[int, dict[str, Any]], *, on: date | None = None,
                  known_models: list[str] | None = None) -> list[str]:
    """What stops the model's retirement plan from being recorded on day `on`: phases not done dated before it,
    a replacement that is not a configured model (or is the model itself). Each names its key."""
    from mlops_provider.settings import model_names

    plan = config.lifecycle.retirement
    if plan is None:
        return []
    on = on or today()
    problems = []
    for index, phase in enumerate(plan.phases):
        if index not in done and phase.on < on:
            problems.append(f"key 'lifecycle.retirement.phases.{index}.on': {phase.phase} on {phase.on} is in the "
                            f"past (today is {on}, UTC) and was never done: date it today or later")
    if plan.replaced_by is not None:
        known = model_names() if known_models is None else known_models
        if plan.replaced_by == config.name:
            problems.append(f"key 'lifecycle.retirement.replaced_by': '{config.name}' cannot replace itself")
        elif plan.replaced_by not in known:
            problems.append(f"key 'lifecycle.retirement.replaced_by': '{plan.replaced_by}' is not a configured "
                            f"model (configured: {', '.join(known) or 'none'})")
    return problems


def record_plan(client: MlflowClient, config: ModelConfig, *, on: date | None = None,
                known_models: list[str] | None = None) -> bool:
    """Record the model's retirement plan when it is new or changed (True), after `plan_problems` finds nothing;
    else raise `LifecycleRefused` naming the file and every problem. An already recorded plan: False."""
    plan = config.lifecycle.retirement
    if plan is None:
        return False
    digest = plan_digest(plan)
    recorded = recorded_plan(client, config.name)
    if recorded and recorded.get("digest") == digest:
        return False
    problems = plan_problems(config, done_phases(client, config.name, plan), on=on, known_models=known_models)
    if problems:
        raise LifecycleRefused(f"{config.source}: the retirement plan of model '{config.name}' is refused: "
                               + "; ".join(problems))
    client.set_registered_model_tag(config.name, TAG_LIFECYCLE_PLAN, json.dumps(
        {"digest": digest, "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}))
    return True
