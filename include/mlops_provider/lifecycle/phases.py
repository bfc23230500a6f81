"""What each retirement phase does, once:

- `deprecate`: tags the registered model `mlops.lifecycle.deprecated` (the notice as JSON) and alerts.
- `reduce_traffic`: records the share the model should still take (`mlops.lifecycle.traffic_percent`) and
  alerts with it. A routing hint, not enforced: a model's server has no other model to send the rest to, and
  refusing callers would break them before the date the plan promised (`stop`). Callers, or a router in front of
  both models, move that share to `replaced_by`.
- `migrate`: alerts with the replacement's endpoint: the last call to move.
- `stop`: removes everything the model's target runs, archives every version (champion too: the model is
  retired), then removes the model's aliases (each removal in the alias history) and tags it
  `mlops.lifecycle.retired`.

Each phase records what it did (the registered-model tag `mlops.lifecycle.phase.<index>` and the lifecycle
history) before its alert goes out, so a retry or a second run the same day never repeats it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.lifecycle.archive import archive_versions
from mlops_provider.lifecycle.plan import done_phases, phase_states, record_plan, today
from mlops_provider.lifecycle.records import record
from mlops_provider.tracking import (
    TAG_DEPRECATED,
    TAG_LIFECYCLE_PHASE,
    TAG_RETIRED,
    TAG_TRAFFIC_PERCENT,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig
    from mlops_provider.lifecycle.options import RetirementPhase
    from mlops_provider.lifecycle.serving import Removes

# (summary, details) -> None: tells the model's alerts (operators.alerting.alert in a task)
Alert = Callable[[str, str], Any]


def replacement_endpoint(name: str | None) -> str:
    """Where the replacement model serves, as far as its config and this machine tell (no cloud call)."""
    if name is None:
        return "no replacement named"
    from mlops_provider.config import load_model_config

    config = load_model_config(name, check_paths=False)
    target, options = config.deploy.target, config.deploy.options
    if target == "local":
        from mlops_provider.deploy.local import LocalTarget

        server = LocalTarget().running(name)
        return f"{name}: {server.url}/invocations" if server else f"{name}: local target (no server running now)"
    if target == "kubernetes":
        from mlops_provider.deploy.kubernetes.manifests import base_name

        return f"{name}: http://{base_name(name)}.{options.get('namespace') or 'default'}.svc.cluster.local"
    from mlops_provider.deploy.sagemaker import sagemaker_name

    return f"{name}: SageMaker endpoint {options.get('endpoint_name') or sagemaker_name(name)}"


def _act(client: MlflowClient, config: ModelConfig, phase: RetirementPhase, serving: Removes | None
         ) -> tuple[list[str], str]:
    """Do `phase`; what it did (lines) and the alert's summary."""
    model, plan = config.name, config.lifecycle.retirement
    assert plan is not None
    replaced = f"; replaced by {plan.replaced_by}" if plan.replaced_by else ""
    if phase.phase == "deprecate":
        notice = {"on": phase.on.isoformat(), "message": phase.message, "replaced_by": plan.replaced_by,
                  "stop_on": next((p.on.isoformat() for p in plan.phases if p.phase == "stop"), None)}
        client.set_registered_model_tag(model, TAG_DEPRECATED, json.dumps(notice))
        stop = f"; serving stops on {notice['stop_on']}" if notice["stop_on"] else ""
        return [f"tagged {TAG_DEPRECATED}"], f"{model} is deprecated{replaced}{stop}"
    if phase.phase == "reduce_traffic":
        client.set_registered_model_tag(model, TAG_TRAFFIC_PERCENT, str(phase.traffic_percent))
        return ([f"recorded {TAG_TRAFFIC_PERCENT} = {phase.traffic_percent} (a routing hint: not enforced)"],
                f"{model} should take {phase.traffic_percent}% of the traffic from {phase.on}{replaced}")
    if phase.phase == "migrate":
        endpoint = replacement_endpoint(plan.replaced_by)
        return [f"announced the replacement: {endpoint}"], f"migrate from {model} now: {endpoint}"
    return _stop(client, config, phase, serving), f"{model} is retired: nothing serves it any more{replaced}"


def _stop(client: MlflowClient, config: ModelConfig, phase: RetirementPhase,
          serving: Removes | None) -> list[str]:
    from mlops_provider.history import delete_alias

    model = config.name
    versions = sorted((str(v.version) for v in client.search_model_versions(f"name='{model}'")), key=int)
    did = serving.remove_model(versions) if serving is not None else []
    outcome = archive_versions(client, config, {v: f"retired: stop phase on {phase.on}" for v in versions},
                               serving=None, retiring=True)
    did.append(f"archived {len(outcome.archived)} version(s)" + (f": v{', v'.join(outcome.archived)}"
                                                                  if outcome.archived else ""))
    for alias, version in sorted((client.get_registered_model(model).aliases or {}).items()):
        delete_alias(client, model, alias, reason=f"model retired (stop phase on {phase.on})")
        did.append(f"removed alias {alias} (was v{version})")
    client.set_registered_model_tag(model, TAG_RETIRED, datetime.now(UTC).isoformat(timespec="seconds"))
    did.append(f"tagged {TAG_RETIRED}")
    return did


def run_due_phases(client: MlflowClient, config: ModelConfig, *, serving: Removes | None,
                   alert: Alert | None = None, on: date | None = None) -> list[dict[str, Any]]:
    """Record the plan (refused when new and a phase is in the past), then do every phase due by `on` (today,
    UTC) and not done yet, in order. Returns what each phase did."""
    plan = config.lifecycle.retirement
    if plan is None:
        return []
    on = on or today()
    model = config.name
    record_plan(client, config, on=on)
    ran = []
    for state in phase_states(plan, done_phases(client, model, plan), on):
        if state.state != "due":
            continue
        phase = plan.phases[state.index]
        did, summary = _act(client, config, phase, serving)
        done = {"phase": phase.phase, "on": phase.on.isoformat(), "done_at": datetime.now(UTC).isoformat(
            timespec="seconds"), "did": did}
        client.set_registered_model_tag(model, TAG_LIFECYCLE_PHASE.format(index=state.index), json.dumps(done)[:4900])
        record(client, model, "phase", index=state.index, **done)
        if alert is not None:
            alert(summary, "\n".join([phase.message, *did]).strip())
        ran.append({"index": state.index, **done})
    return ran
