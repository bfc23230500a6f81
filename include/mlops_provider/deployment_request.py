"""What a deployment run deploys: from the champion asset events that started it, or from its params."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_provider.assets import model_of
from mlops_provider.exceptions import ConfigError
from mlops_provider.tracking import CHAMPION

if TYPE_CHECKING:
    from mlops_provider.environments import Environment


def resolve_releases(params: dict[str, Any], triggering_asset_events: Any) -> list[dict[str, str]]:
    """`[{model, version}]`, one per model: for a run started by champion or rollback events (a rollback of the
    performance monitor names the version to go back to), each model's newest event (one scheduler tick can carry
    several models, and several events of one model); otherwise the params, the version defaulting to the alias
    `champion` (resolved by the deploy task)."""
    newest: dict[str, Any] = {}
    for asset, events in dict(triggering_asset_events or {}).items():
        model = model_of(asset, "champion", "rollback")
        if model is None:
            continue
        for event in events:
            if model not in newest or event.timestamp > newest[model].timestamp:
                newest[model] = event
    if newest:
        releases = []
        for model, event in sorted(newest.items()):
            version = (event.extra or {}).get("version")
            if not version:
                raise ConfigError(f"champion or rollback event of model '{model}' carries no version in its extra")
            releases.append({"model": model, "version": str(version)})
        return releases
    if not params.get("model"):
        raise ConfigError("deployment needs a model: pass {\"model\": ...} or let a champion event start it")
    return [{"model": str(params["model"]), "version": str(params.get("version") or CHAMPION)}]


def verify_served(model: str, result: dict[str, Any]) -> str:
    """After a deploy: the target's own status must show the deployed version serving all traffic, healthy, and
    recorded as the alias of the environment it went to (`result["environment"]`, default production:
    `serving_<target>` in the single form). Returns a one-line summary; raises `DeploymentError` otherwise."""
    from mlops_provider.config import load_model_config
    from mlops_provider.environments import environment, production

    config = load_model_config(model)
    name = result.get("environment")
    env = environment(config, name) if name else production(config)
    return verify_environment(env, str(result["version"]))


def verify_environment(env: Environment, version: str, target_kwargs: dict[str, Any] | None = None) -> str:
    """`verify_served` in one environment of the model (`env.config` is the model's config); `target_kwargs`: the
    target's constructor arguments, as the deployment had them (e.g. `kubernetes_conn_id`)."""
    from mlops_provider.exceptions import DeploymentError

    model = env.config.name
    status = env.deployment_target(**(target_kwargs or {})).status(model, env.config)
    problems = []
    if not status.healthy:
        problems.append(f"the endpoint is not healthy ({status.message or 'no reason given'})")
    if status.served_version != version:
        problems.append(f"it serves v{status.served_version}, not v{version}")
    if status.traffic and status.traffic.get(version) != 100:
        problems.append(f"traffic is split {status.traffic}")
    if status.recorded_version != version:
        problems.append(f"the registry records v{status.recorded_version} as {env.alias}")
    if problems:
        raise DeploymentError(f"model '{model}' v{version} on {env.label}: " + "; ".join(problems))
    return f"model '{model}': {env.label} serves v{version} to all traffic, recorded as {env.alias}"
