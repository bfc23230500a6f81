"""An A/B split on a model's local server: the challenger loaded beside the champion, traffic divided by a hash
of each request's `x-routing-key` header (`hash` routing: one key always meets the same version), ended by giving
one version all traffic again and unloading the other. Uses `LocalTarget`'s public pieces only.

Only the local target splits for now: `split_target` refuses the others, naming them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import DeploymentRefused

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig
    from mlops_provider.deploy.local.target import LocalTarget


def split_target(config: ModelConfig, *, tracking_uri: str, state_dir: str | None = None) -> LocalTarget:
    """The model's local target; any other `deploy.target` is refused (no A/B split there yet)."""
    if config.deploy.target != "local":
        raise DeploymentRefused(f"model '{config.name}': an A/B split runs on the local target only for now; "
                                f"`deploy.target` is '{config.deploy.target}' ({config.source})")
    from mlops_provider.deploy.local.target import LocalTarget

    return LocalTarget(tracking_uri=tracking_uri, state_dir=state_dir)


def start_split(target: LocalTarget, config: ModelConfig, *, champion: str, challenger: str,
                split: dict[str, int]) -> list[str]:
    """Load `challenger` beside `champion` and route `split` (percent per arm) in `hash` mode. Idempotent: a
    retry finds the split in place. Refused when the server serves something other than the champion."""
    model = config.name
    with target.processes.locked(model):
        steps: list[str] = []
        server = target.ensure_server(model, config, steps=steps)
        state = target.admin.status(server)
        weights = {str(k): int(v) for k, v in state["weights"].items()}
        planned = {champion: split["champion"], challenger: split["challenger"]}
        if weights == planned and state.get("routing") == "hash":
            return [*steps, f"the split is in place: {_describe(planned)} (a retry)"]
        if weights.get(champion) != 100 and set(weights) != set(planned):
            raise DeploymentRefused(f"model '{model}': the local server does not serve the champion v{champion} "
                                    f"alone (weights {weights}); deploy it first (mlops_deployment)")
        if challenger not in weights:
            target.admin.post(server, "/admin/load", {"version": challenger})
            steps.append(f"loaded v{challenger} beside v{champion} (no traffic yet)")
        target.admin.post(server, "/admin/traffic", {"weights": planned, "routing": "hash"})
        steps.append(f"split by x-routing-key hash: {_describe(planned)}")
        return steps


def end_split(target: LocalTarget, config: ModelConfig, *, keep: str, drop: str) -> list[str]:
    """`keep` takes all traffic (random routing again) and `drop` is unloaded. Idempotent; nothing to do when
    no server runs."""
    model = config.name
    with target.processes.locked(model):
        server = target.running(model)
        if server is None:
            return [f"no local server runs model '{model}': nothing to end"]
        steps: list[str] = []
        weights = {str(k): int(v) for k, v in target.admin.status(server)["weights"].items()}
        if keep in weights and (weights.get(keep) != 100 or drop in weights):
            target.admin.post(server, "/admin/traffic", {"weights": {keep: 100}, "routing": "random"})
            steps.append(f"v{keep} takes all traffic again")
        if drop in weights and keep in weights:
            target.admin.post(server, "/admin/unload", {"version": drop})
            steps.append(f"unloaded v{drop}")
        return steps or [f"v{keep} already serves alone"]


def version_health(target: LocalTarget, model: str, version: str) -> dict[str, Any] | None:
    """The server's counters of `version` since it was loaded (requests, errors, mean_ms), None without a server
    or when it is not loaded."""
    server = target.running(model)
    if server is None:
        return None
    versions = target.admin.status(server)["versions"]
    return next((v for v in versions if str(v["version"]) == str(version)), None)


def _describe(weights: dict[str, int]) -> str:
    return ", ".join(f"v{version} {percent}%" for version, percent in weights.items())
