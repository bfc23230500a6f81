"""A shadow version on Kubernetes: live traffic copied to it, its answers logged apart, never returned.

Two ways, chosen by the model's `deploy.options`:
- with `istio`: Deployment `<base>-shadow` (one pod, `mlops.track=shadow`, `mlops.slot=shadow`, so the model's
  Service never selects it) runs the server with `--shadow-log` (its whole log is the model's shadow log), Service
  `<base>-shadow` selects it, and the first http route of VirtualService `<base>` gets `mirror` (that Service) and
  `mirrorPercentage`. Envoy gives the live request and its mirror the same `x-request-id`, which both servers take as
  the request id, so the shadow rows join the live ones. The sidecar sends the mirror and drops its answer.
- without: the model server mirrors itself: the serving Deployment's container gets `--shadow VERSION` (its pods
  roll, `maxUnavailable: 0`), and each pod scores copies on its bounded shadow queue (`serving.shadow`).

Stopping undoes either. A later rollout of the model re-applies its Deployment and VirtualService from the config,
which also ends a shadow (the `<base>-shadow` objects are then left idle until `stop_shadow`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_provider.deploy.kubernetes.manifests import (
    base_name,
    common_labels,
    reapply_manifest,
    render_deployment,
)
from mlops_provider.exceptions import DeploymentError

if TYPE_CHECKING:
    from mlops_provider.deploy.kubernetes.cluster import Cluster
    from mlops_provider.deploy.kubernetes.options import KubernetesOptions

SHADOW = "shadow"  # the shadow objects' name suffix, track and slot
SHADOW_FLAG = "--shadow"


def shadow_name(model: str) -> str:
    return f"{base_name(model)}-{SHADOW}"


def render_shadow_deployment(model: str, version: str, options: KubernetesOptions, *,
                             namespace: str) -> dict[str, Any]:
    """Deployment `<base>-shadow`: one pod serving `version` whose log is the shadow log."""
    manifest = render_deployment(model, version, options, name=shadow_name(model), track=SHADOW, slot=SHADOW,
                                 replicas=1, namespace=namespace)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    container["command"] = [*container["command"], "--shadow-log"]
    return manifest


def render_shadow_service(model: str, options: KubernetesOptions, *, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": shadow_name(model), "namespace": namespace, "labels": common_labels(model)},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": base_name(model), "mlops.slot": SHADOW},
            "ports": [{"name": "http", "port": options.service_port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def with_mirror(virtual_service: dict[str, Any], *, host: str | None, port: int, percent: float) -> dict[str, Any]:
    """The VirtualService to apply: its first http route mirroring `percent` of requests to `host` (None: no
    mirror)."""
    manifest = reapply_manifest(virtual_service)
    routes = manifest["spec"].get("http") or []
    if not routes:
        raise DeploymentError(f"VirtualService {manifest['metadata']['name']} has no http route to mirror")
    first = routes[0]
    first.pop("mirror", None)
    first.pop("mirrorPercentage", None)
    if host is not None:
        first["mirror"] = {"host": host, "port": {"number": port}}
        first["mirrorPercentage"] = {"value": float(percent)}
    return manifest


def start_shadow(cluster: Cluster, model: str, version: str, options: KubernetesOptions, *,
                 percent: float = 100.0) -> list[str]:
    """Shadow `version` of `model` (see the module docstring); the steps taken."""
    if not 0 < percent <= 100:
        raise DeploymentError(f"model '{model}': shadow percent must be in (0, 100], got {percent}")
    if options.istio is None:
        return _self_mirror(cluster, model, version)
    name = base_name(model)
    virtual_service = cluster.get("VirtualService", name)
    if virtual_service is None:
        raise DeploymentError(f"model '{model}': VirtualService {name} not found in namespace "
                              f"{cluster.namespace}: deploy the model before shadowing a version")
    cluster.apply(render_shadow_deployment(model, version, options, namespace=cluster.namespace))
    cluster.apply(render_shadow_service(model, options, namespace=cluster.namespace))
    host = f"{shadow_name(model)}.{cluster.namespace}.svc.cluster.local"
    cluster.apply(with_mirror(virtual_service, host=host, port=options.service_port, percent=percent))
    return [f"Deployment {shadow_name(model)} serves v{version} with its log as the shadow log",
            f"Service {shadow_name(model)} selects it",
            f"VirtualService {name} mirrors {percent:g}% of its traffic to {host}"]


def stop_shadow(cluster: Cluster, model: str, options: KubernetesOptions) -> list[str]:
    """Undo `start_shadow`; the steps taken (none when nothing was shadowed)."""
    steps = []
    if options.istio is not None:
        name = base_name(model)
        virtual_service = cluster.get("VirtualService", name)
        if virtual_service is not None and "mirror" in ((virtual_service["spec"].get("http") or [{}])[0]):
            cluster.apply(with_mirror(virtual_service, host=None, port=options.service_port, percent=0))
            steps.append(f"VirtualService {name} mirrors no more")
        for kind in ("Service", "Deployment"):
            if cluster.delete(kind, shadow_name(model)):
                steps.append(f"deleted {kind} {shadow_name(model)}")
        return steps
    deployment = _serving_deployment(cluster, model)
    if deployment is not None and _shadow_of(deployment) is not None:
        cluster.apply(_with_shadow_flag(deployment, None))
        steps.append(f"Deployment {deployment['metadata']['name']} scores no shadow copies")
    return steps


def shadowed_version(cluster: Cluster, model: str, options: KubernetesOptions) -> str | None:
    """The version shadowed now, None when there is none."""
    if options.istio is not None:
        found = cluster.get("Deployment", shadow_name(model))
        return None if found is None else found["spec"]["template"]["metadata"]["labels"].get("mlops.version")
    deployment = _serving_deployment(cluster, model)
    return None if deployment is None else _shadow_of(deployment)


def _self_mirror(cluster: Cluster, model: str, version: str) -> list[str]:
    deployment = _serving_deployment(cluster, model)
    if deployment is None:
        raise DeploymentError(f"model '{model}': no Deployment serves it in namespace {cluster.namespace}: deploy "
                              f"the model before shadowing a version")
    serving = deployment["spec"]["template"]["metadata"]["labels"].get("mlops.version")
    if serving == version:
        raise DeploymentError(f"model '{model}': v{version} is the version serving; shadow another one")
    cluster.apply(_with_shadow_flag(deployment, version))
    return [f"Deployment {deployment['metadata']['name']} (v{serving}) scores a copy of every request with "
            f"v{version} (no Istio: the server mirrors itself)"]


def _serving_deployment(cluster: Cluster, model: str) -> dict[str, Any] | None:
    from mlops_provider.deploy.kubernetes.cluster import read_serving

    name = read_serving(cluster, model).active_name
    return cluster.get("Deployment", name) if name else None


def _shadow_of(deployment: dict[str, Any]) -> str | None:
    command = deployment["spec"]["template"]["spec"]["containers"][0].get("command") or []
    return command[command.index(SHADOW_FLAG) + 1] if SHADOW_FLAG in command else None


def _with_shadow_flag(deployment: dict[str, Any], version: str | None) -> dict[str, Any]:
    manifest = reapply_manifest(deployment)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    command = list(container.get("command") or [])
    if SHADOW_FLAG in command:
        at = command.index(SHADOW_FLAG)
        del command[at:at + 2]
    container["command"] = command if version is None else [*command, SHADOW_FLAG, version]
    return manifest
