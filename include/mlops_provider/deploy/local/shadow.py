"""A shadow version on the local target: the model's running server loads it beside the live version with no
traffic and scores a copy of every live request with it (`serving.shadow`), over the server's admin API.

The version gets the `mlops.shadow` tag (`local since <time>`, then `stopped <time>`), so the registry shows what
is shadowed where. A deployment to the server ends a shadow (the pool holds two versions; the tag then says
`ended <time> by the deployment of v<N>`): the shadow is for a candidate looked at beside a settled champion.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import DeploymentError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig
    from mlops_provider.deploy.local.process import ServerHandle
    from mlops_provider.deploy.local.target import LocalTarget


def _server(target: LocalTarget, model: str) -> ServerHandle:
    server = target.running(model)
    if server is None:
        raise DeploymentError(f"model '{model}': no local model server is running (state dir {target.state_dir}): "
                              "deploy the model before shadowing a version")
    return server


def start_shadow(model: str, version: str, config: ModelConfig, *, target: LocalTarget | None = None,
                 client: MlflowClient | None = None) -> dict[str, Any]:
    """Shadow `version` on the model's local server; the shadow's state (counters) as the server reports it."""
    from mlops_provider.deploy.local.target import LocalTarget

    target = target or LocalTarget()
    answer = target.admin.post(_server(target, model), "/admin/shadow", {"version": str(version)})
    _tag(client or _client(target), model, str(version), f"local since {_now()}")
    state: dict[str, Any] = answer["shadow_state"]
    return state


def stop_shadow(model: str, config: ModelConfig, *, target: LocalTarget | None = None,
                client: MlflowClient | None = None, unload: bool = True) -> dict[str, Any] | None:
    """Stop the model's shadow (its queued copies are scored and logged first); its final counters, or None when
    nothing was shadowed. `unload` also drops the version from the server."""
    from mlops_provider.deploy.local.target import LocalTarget

    target = target or LocalTarget()
    answer = target.admin.post(_server(target, model), "/admin/shadow/stop", {"unload": unload})
    final: dict[str, Any] | None = answer["shadow_state"]
    if final is not None:
        _tag(client or _client(target), model, str(final["version"]), f"stopped {_now()}")
    return final


def shadow_status(model: str, *, target: LocalTarget | None = None) -> dict[str, Any] | None:
    """The shadow's counters on the model's local server (None: no shadow)."""
    from mlops_provider.deploy.local.target import LocalTarget

    target = target or LocalTarget()
    state: dict[str, Any] | None = target.admin.status(_server(target, model)).get("shadow_state")
    return state


def tag_shadow_ended(client: MlflowClient, model: str, version: str, why: str) -> None:
    """Say on the version that its shadow ended without `stop_shadow` (`why`: what ended it)."""
    _tag(client, model, version, f"ended {_now()} {why}")


def _client(target: LocalTarget) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=target.tracking_uri, registry_uri=target.tracking_uri)


def _tag(client: MlflowClient, model: str, version: str, value: str) -> None:
    from mlops_provider.tracking import TAG_SHADOW

    client.set_model_version_tag(model, version, TAG_SHADOW, value)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
