"""Kubernetes deployment target: a model version as a Deployment behind a Service, applied server-side.

Objects, all named from the model (`credit_default` -> `mlops-credit-default`):
- Deployments: `<base>` (stable), `<base>-canary`, `<base>-blue`, `<base>-green`. Each selects its own pods by
  `mlops.track`; every pod carries `app`, `mlops.model`, `mlops.version` and `mlops.slot`.
- Service `<base>`: selects `app=<base>, mlops.slot=<slot>`; the slot is `main` (stable and canary pods) or a color.
  Switching the selector's slot is the one atomic traffic switch of blue-green.
- HorizontalPodAutoscaler `<base>` when `deploy.options.hpa` is set, scaling the Deployment that serves.
- With `deploy.options.istio` (`true`, or `{host, hosts, gateway}`): `networking.istio.io/v1` DestinationRule
  `<base>` (subsets `stable` and `canary`, by the pods' `mlops.track`: `stable` is the serving Deployment's track,
  a color after blue-green) and VirtualService `<base>` (one http route over those subsets; `status` then reports
  its split as the traffic). `host` is the Service's host the route and the rule are about (default
  `<base>.<namespace>.svc.cluster.local`), `hosts` the names the VirtualService answers for (default `[host]`),
  `gateway` one gateway or a list (`mesh` is added, so the sidecars follow the same split). Needs Istio's CRDs;
  removing the option later leaves both objects as they are.

Strategies (`deploy.strategy`):
- `rolling`: update the serving Deployment in place (maxSurge 1, maxUnavailable 0) and wait for the rollout;
- `blue_green`: apply the idle color, wait until it is ready and the optional check passes, switch the Service
  selector, then scale the old color down (`previous_color`: `scale_down`, `keep` or `delete`);
- `canary`: a canary Deployment in the serving slot, sized so that its share of the pods (and so of the traffic
  through the Service) approximates each of `canary_steps`; after each step its pods must be ready and the optional
  check must pass; then the serving Deployment is updated in place and the canary removed. With Istio the split
  is exact instead: the VirtualService first pins all traffic to `stable` (before any canary pod is ready), then
  after each step's canary pods are ready gives `canary` the step's percent (`stable` the rest), and at promotion,
  once the stable Deployment has rolled out the new version, goes back to `stable` 100 before the DestinationRule
  drops the `canary` subset. Traffic that bypasses the mesh still follows the ratio of the pods.
- `rolling` and `blue_green` with Istio: the VirtualService sends all traffic to the Service itself (no subset),
  applied before the Service, so the Service's selector decides and the blue-green switch stays one atomic change
  (routing to a color's subset would need two writes, with a gap between them). The DestinationRule is left alone.

A rollout is done when `observedGeneration >= generation` and the updated and available replicas equal the spec;
it failed on `ProgressDeadlineExceeded` or when `rollout_timeout` passes (the pods' waiting reasons, such as
ImagePullBackOff, go into the message). `apps/v1` has no rollback call, so every change registers its undo first
(re-apply the previous spec, switch the selector back, remove what was created; the VirtualService and the
DestinationRule are re-applied as they were before the rollout, or deleted when they did not exist) and a failure
runs them in reverse.
The previous pod template is also kept in an annotation of the Deployment, so it survives the process.

Each strategy is a list of phases; a phase makes changes and names the rollout to wait for before the next one.
`begin`/`resume` (a `DeferrableTarget`) hand every wait, the waits of a rollback included, to
`mlops_provider.triggers.kubernetes.RolloutTrigger` with a JSON state (`Progress`: the snapshot of what served
before, the next phase, the undo actions as data, the steps); `deploy` runs the same phases and waits in-process.

With `deploy.options.smoke_test: true`, every verification point first sends `smoke_rows` holdout rows (default 20)
to the pods being verified alone, through the API server's service proxy of a preview Service
(`<base>-<track>-preview`, removed afterwards): their predictions must equal the registered version's own and the
p95 latency stay within `latency_budget_ms` (default 500), or the rollout is rolled back.

Everything is written with server-side apply (`application/apply-patch+yaml`, field manager `mlops`, force) through
the cncf-kubernetes provider's `KubernetesHook`, or through an injected `kubernetes.client.ApiClient`.
Deploying the version that serves, with the same rendered configuration, changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.deploy.base import (
    DeferrableTarget,
    DeploymentResult,
    DeploymentStatus,
    Pending,
    check_canary_steps,
    check_strategy,
    check_version,
)
from mlops_provider.deploy.smoke import model_predictions, smoke_rows, smoke_test
from mlops_provider.exceptions import DeploymentError, DeploymentRefused
from mlops_provider.registry import (
    previous_version,
    record_rollback,
    record_serving,
    recorded_for_status,
    recorded_version,
)

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig

log = logging.getLogger(__name__)

TARGET = "kubernetes"
ROLLOUT_TRIGGER = "mlops_provider.triggers.kubernetes.RolloutTrigger"
DEFAULT_IMAGE = "ghcr.io/example/mlops-model-server:latest"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
FIELD_MANAGER = "mlops"
HASH_ANNOTATION = "mlops/config-hash"
PREVIOUS_VERSION_ANNOTATION = "mlops/previous-version"
PREVIOUS_TEMPLATE_ANNOTATION = "mlops/previous-template"
MAIN_SLOT = "main"
COLORS = ("blue", "green")
DEFAULT_RESOURCES: dict[str, Any] = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
KNOWN_OPTIONS = {"image", "namespace", "replicas", "port", "service_port", "service_type", "resources", "env", "hpa",
                 "rollout_timeout", "progress_deadline", "step_wait", "previous_color", "smoke_test", "smoke_rows",
                 "latency_budget_ms", "istio"}
ISTIO_API = "networking.istio.io/v1"
ISTIO_KEYS = {"host", "hosts", "gateway"}


@dataclass(frozen=True)
class KubernetesOptions:
    """`deploy.options` of a model whose target is `kubernetes`, checked."""

    image: str = DEFAULT_IMAGE
    namespace: str | None = None
    replicas: int = 2
    port: int = 8080
    service_port: int = 80
    service_type: str = "ClusterIP"
    resources: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_RESOURCES))
    env: dict[str, str] = field(default_factory=dict)
    hpa: dict[str, int] | None = None
    rollout_timeout: float = 600.0
    progress_deadline: int = 300
    step_wait: float = 30.0
    previous_color: str = "scale_down"
    smoke_test: bool = False
    smoke_rows: int = 20
    latency_budget_ms: float = 500.0
    istio: dict[str, Any] | None = None  # {"host": str | None, "hosts": [...], "gateways": [...]}, see _parse_istio

    @classmethod
    def parse(cls, model: str, options: dict[str, Any]) -> KubernetesOptions:
        def bad(key: str, why: str) -> DeploymentError:
            return DeploymentRefused(f"model '{model}': deploy.options.{key}: {why}")

        unknown = sorted(set(options) - KNOWN_OPTIONS)
        if unknown:
            log.warning("Model %s: deploy.options %s are not Kubernetes options; ignored", model, unknown)
        values: dict[str, Any] = {key: options[key] for key in KNOWN_OPTIONS if key in options}
        for key in ("image", "service_type", "previous_color"):
            if key in values and (not isinstance(values[key], str) or not values[key]):
                raise bad(key, f"expected a non-empty string, got {values[key]!r}")
        for key, low in (("replicas", 1), ("port", 1), ("service_port", 1), ("progress_deadline", 1),
                         ("smoke_rows", 1)):
            if key in values and (not isinstance(values[key], int) or isinstance(values[key], bool)
                                  or values[key] < low):
                raise bad(key, f"expected an integer of at least {low}, got {values[key]!r}")
        for key in ("rollout_timeout", "step_wait"):
            if key in values and (not isinstance(values[key], int | float) or values[key] < 0):
                raise bad(key, f"expected a number of seconds, got {values[key]!r}")
        if "latency_budget_ms" in values and (not isinstance(values["latency_budget_ms"], int | float)
                                              or isinstance(values["latency_budget_ms"], bool)
                                              or values["latency_budget_ms"] <= 0):
            raise bad("latency_budget_ms", f"expected a positive number of milliseconds, got "
                                           f"{values['latency_budget_ms']!r}")
        if "smoke_test" in values and not isinstance(values["smoke_test"], bool):
            raise bad("smoke_test", f"expected true or false, got {values['smoke_test']!r}")
        if values.get("previous_color", "scale_down") not in ("scale_down", "keep", "delete"):
            raise bad("previous_color", f"expected scale_down, keep or delete, got {values['previous_color']!r}")
        if "resources" in values and not isinstance(values["resources"], dict):
            raise bad("resources", "expected a mapping like {requests: {cpu: 250m}, limits: {memory: 1Gi}}")
        if "env" in values:
            if not isinstance(values["env"], dict):
                raise bad("env", "expected a mapping of variable names to values")
            values["env"] = {str(k): str(v) for k, v in values["env"].items()}
        if "hpa" in values:
            values["hpa"] = _parse_hpa(values["hpa"], bad)
            values.setdefault("replicas", values["hpa"]["min"])
        if "istio" in values:
            values["istio"] = _parse_istio(values["istio"], bad)
        return cls(**values)


def _parse_hpa(raw: Any, bad: Callable[[str, str], DeploymentError]) -> dict[str, int]:
    if not isinstance(raw, dict) or set(raw) != {"min", "max", "cpu"}:
        raise bad("hpa", f"expected {{min, max, cpu}}, got {raw!r}")
    if not all(isinstance(raw[k], int) and not isinstance(raw[k], bool) for k in raw):
        raise bad("hpa", f"min, max and cpu must be integers, got {raw!r}")
    if not 1 <= raw["min"] <= raw["max"] or not 1 <= raw["cpu"] <= 100:
        raise bad("hpa", f"need 1 <= min <= max and cpu (target utilization in %) in 1..100, got {raw!r}")
    return {"min": raw["min"], "max": raw["max"], "cpu": raw["cpu"]}


def _parse_istio(raw: Any, bad: Callable[[str, str], DeploymentError]) -> dict[str, Any] | None:
    """`deploy.options.istio`: false/null (off), true (the Service's own host) or {host, hosts, gateway}."""
    if raw is None or raw is False:
        return None
    if raw is True:
        raw = {}
    if not isinstance(raw, dict):
        raise bad("istio", f"expected true or a mapping like {{host: <service host>, gateway: <gateway>}}, "
                           f"got {raw!r}")
    unknown = sorted(set(raw) - ISTIO_KEYS)
    if unknown:
        raise bad("istio", f"unknown key(s) {unknown}: expected host, hosts or gateway")

    def name(value: Any) -> bool:
        return isinstance(value, str) and bool(value) and not any(c.isspace() for c in value)

    def names(key: str) -> list[str]:
        value = raw.get(key)
        if value is None:
            return []
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not value or not all(name(v) for v in value):
            raise bad(f"istio.{key}", f"expected a host name or a non-empty list of them, got {raw[key]!r}")
        return list(value)

    host = raw.get("host")
    if host is not None and (not name(host) or "*" in host or "/" in host):
        raise bad("istio.host", f"expected the Service's host name (e.g. svc.ns.svc.cluster.local), got {host!r}")
    return {"host": host, "hosts": names("hosts"), "gateways": names("gateway")}


@dataclass(frozen=True)
class CheckPoint:
    """Where a rollout stands when the optional check is asked: return False or raise to stop and roll back."""

    model: str
    version: str
    stage: str
    namespace: str
    service: str
    deployment: str
    traffic_percent: int


# -- rendering ----------------------------------------------------------------------------------------------------

def base_name(model: str) -> str:
    """DNS-safe name of a model's objects: `credit_default` -> `mlops-credit-default` (at most 50 characters)."""
    slug = f"mlops-{model.replace('_', '-')}".rstrip("-")
    if len(slug) <= 50:
        return slug
    return f"{slug[:43].rstrip('-')}-{hashlib.sha256(model.encode()).hexdigest()[:6]}"


def common_labels(model: str) -> dict[str, str]:
    return {"app": base_name(model), "mlops.model": model, "app.kubernetes.io/managed-by": FIELD_MANAGER}


def render_container(model: str, version: str, options: KubernetesOptions) -> dict[str, Any]:
    env = {**options.env, "MLOPS_MODEL": model, "MLOPS_VERSION": version}
    return {
        "name": "server",
        "image": options.image,
        "command": ["mlops", "serve", model, "--version", version, "--host", "0.0.0.0", "--port", str(options.port)],
        "ports": [{"name": "http", "containerPort": options.port, "protocol": "TCP"}],
        "env": [{"name": name, "value": value} for name, value in sorted(env.items())],
        "resources": options.resources,
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "initialDelaySeconds": 5,
                           "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "initialDelaySeconds": 15,
                          "periodSeconds": 10, "failureThreshold": 3},
    }


def config_hash(model: str, version: str, options: KubernetesOptions) -> str:
    """What decides whether a re-deploy of the serving version changes anything."""
    wanted = {"container": render_container(model, version, options), "replicas": options.replicas,
              "hpa": options.hpa, "service": [options.service_port, options.service_type],
              "progress_deadline": options.progress_deadline}
    if options.istio is not None:  # only when set, so the hash of a configuration without Istio is unchanged
        wanted["istio"] = options.istio
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16]


def render_deployment(model: str, version: str, options: KubernetesOptions, *, name: str, track: str, slot: str,
                      replicas: int, namespace: str, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Deployment `name` serving `version`; `previous` (the object it replaces) is kept in annotations."""
    labels = {**common_labels(model), "mlops.version": version, "mlops.track": track}
    pod_labels = {"app": base_name(model), "mlops.model": model, "mlops.version": version, "mlops.track": track,
                  "mlops.slot": slot}
    annotations = {HASH_ANNOTATION: config_hash(model, version, options)}
    if previous is not None:
        old_labels = previous["spec"]["template"]["metadata"].get("labels", {})
        if old_labels.get("mlops.version") != version:
            annotations[PREVIOUS_VERSION_ANNOTATION] = old_labels.get("mlops.version", "")
            annotations[PREVIOUS_TEMPLATE_ANNOTATION] = json.dumps(previous["spec"]["template"], sort_keys=True)
        else:
            for key in (PREVIOUS_VERSION_ANNOTATION, PREVIOUS_TEMPLATE_ANNOTATION):
                if key in (previous["metadata"].get("annotations") or {}):
                    annotations[key] = previous["metadata"]["annotations"][key]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": base_name(model), "mlops.track": track}},
            "progressDeadlineSeconds": options.progress_deadline,
            "revisionHistoryLimit": 5,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {"containers": [render_container(model, version, options)],
                         "terminationGracePeriodSeconds": 30},
            },
        },
    }


def render_service(model: str, options: KubernetesOptions, *, slot: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": base_name(model), "namespace": namespace, "labels": common_labels(model)},
        "spec": {
            "type": options.service_type,
            "selector": {"app": base_name(model), "mlops.slot": slot},
            "ports": [{"name": "http", "port": options.service_port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def preview_name(base: str, track: str) -> str:
    return f"{base}-{track}-preview"


def render_preview_service(model: str, options: KubernetesOptions, *, track: str,
                           namespace: str) -> dict[str, Any]:
    """A ClusterIP Service of one track's pods only (a color, the canary): the smoke test reaches them through
    the API server's service proxy before they take traffic (or a share of it)."""
    base = base_name(model)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": preview_name(base, track), "namespace": namespace,
                     "labels": {**common_labels(model), "mlops.track": track}},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": base, "mlops.track": track},
            "ports": [{"name": "http", "port": options.service_port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def render_hpa(model: str, options: KubernetesOptions, *, deployment: str, namespace: str) -> dict[str, Any]:
    assert options.hpa is not None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": base_name(model), "namespace": namespace, "labels": common_labels(model)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicas": options.hpa["min"],
            "maxReplicas": options.hpa["max"],
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": options.hpa["cpu"]}}}],
        },
    }


def istio_host(model: str, options: KubernetesOptions, namespace: str) -> str:
    """The host the Istio objects are about: `istio.host`, else the Service's cluster-local name."""
    assert options.istio is not None
    return str(options.istio.get("host") or f"{base_name(model)}.{namespace}.svc.cluster.local")


def render_destination_rule(model: str, options: KubernetesOptions, *, namespace: str,
                            subsets: dict[str, str]) -> dict[str, Any]:
    """DestinationRule `<base>` of the Service's host: one subset per name, selecting the pods of a track
    (`{"stable": "stable", "canary": "canary"}`: subset name -> `mlops.track`)."""
    return {
        "apiVersion": ISTIO_API,
        "kind": "DestinationRule",
        "metadata": {"name": base_name(model), "namespace": namespace, "labels": common_labels(model)},
        "spec": {"host": istio_host(model, options, namespace),
                 "subsets": [{"name": name, "labels": {"mlops.track": track}} for name, track in subsets.items()]},
    }


def render_virtual_service(model: str, options: KubernetesOptions, *, namespace: str,
                           weights: dict[str, int] | None) -> dict[str, Any]:
    """VirtualService `<base>`: the traffic split `weights` (subset of the DestinationRule -> percent, summing to
    100), or with None all of it to the Service itself (no subset: the Service's selector decides)."""
    assert options.istio is not None
    host = istio_host(model, options, namespace)
    port = {"number": options.service_port}
    if weights is None:
        route = [{"destination": {"host": host, "port": port}, "weight": 100}]
    else:
        route = [{"destination": {"host": host, "subset": subset, "port": port}, "weight": weight}
                 for subset, weight in weights.items()]
    spec: dict[str, Any] = {"hosts": list(options.istio.get("hosts") or [host])}
    gateways = list(options.istio.get("gateways") or [])
    if gateways:  # the sidecars ("mesh") follow the same split as the gateways
        spec["gateways"] = gateways if "mesh" in gateways else [*gateways, "mesh"]
    spec["http"] = [{"name": "mlops", "route": route}]
    return {
        "apiVersion": ISTIO_API,
        "kind": "VirtualService",
        "metadata": {"name": base_name(model), "namespace": namespace, "labels": common_labels(model)},
        "spec": spec,
    }


def route_weights(virtual_service: dict[str, Any] | None) -> dict[str, int]:
    """A VirtualService's split as {subset: percent} (`""` for the host itself); {} when there is none."""
    weights: dict[str, int] = {}
    for http in ((virtual_service or {}).get("spec") or {}).get("http") or []:
        route = http.get("route") or []
        for destination in route:
            subset = str((destination.get("destination") or {}).get("subset") or "")
            weight = destination.get("weight", 100 if len(route) == 1 else 0)
            weights[subset] = weights.get(subset, 0) + int(weight)
        break  # the first http route is the one this target writes
    return weights


def reapply_manifest(obj: dict[str, Any], *, replicas: int | None = None) -> dict[str, Any]:
    """An object as read from the API server, turned back into what to apply (server-managed fields dropped)."""
    meta = obj["metadata"]
    spec = json.loads(json.dumps(obj["spec"]))
    if replicas is not None:
        spec["replicas"] = replicas
    if obj["kind"] == "Service":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                         "labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {}},
            "spec": spec}


def canary_replicas(stable: int, percent: int) -> int:
    """Canary pods beside `stable` pods so that the canary's share of all pods is closest to `percent` (>= 1)."""
    return max(1, round(stable * percent / (100 - percent)))


def rollout_state(deployment: dict[str, Any]) -> tuple[str, str]:
    """(`done` | `progressing` | `failed`, why) for a Deployment as read from the API server."""
    meta, spec, status = deployment["metadata"], deployment["spec"], deployment.get("status") or {}
    wanted = spec.get("replicas", 1)
    generation, observed = meta.get("generation", 0), status.get("observedGeneration", 0)
    if observed < generation:  # the status (conditions included) still describes an older spec
        return "progressing", f"the controller has not observed generation {generation} yet (at {observed})"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return "failed", f"ProgressDeadlineExceeded: {condition.get('message', '')}".strip()
    updated, available = status.get("updatedReplicas", 0), status.get("availableReplicas", 0)
    if updated < wanted:
        return "progressing", f"{updated} of {wanted} replicas updated"
    if status.get("replicas", 0) > updated:
        return "progressing", f"{status.get('replicas', 0) - updated} old replica(s) still terminating"
    if available < wanted:
        return "progressing", f"{available} of {wanted} updated replicas available"
    return "done", f"{available} of {wanted} replicas updated and available"


def pod_problems(pods: list[dict[str, Any]], limit: int = 3) -> str:
    """The waiting or terminated reasons of pods that are not ready, e.g. `pod x: ImagePullBackOff (...)`."""
    found = []
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            if container.get("ready"):
                continue
            state = container.get("state") or {}
            detail = state.get("waiting") or state.get("terminated") or {}
            last = (container.get("lastState") or {}).get("terminated") or {}
            reason = detail.get("reason") or last.get("reason")
            if reason:
                message = detail.get("message") or last.get("message") or ""
                found.append(f"pod {pod['metadata']['name']}: {reason}" + (f" ({message})" if message else ""))
    if not found:
        return ""
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return "; " + "; ".join(found[:limit]) + more


def rollout_verdict(name: str, deployment: dict[str, Any] | None, *, expired: bool,
                    timeout: float) -> tuple[str, str] | None:
    """(`done` | `failed`, message) once the rollout of the Deployment `name` (as read, None when it is gone) has
    an outcome; None while it progresses and `expired` (its deadline passed) is False. The caller adds the pods'
    reasons to a failure's message (`pod_problems` of the pods of `pod_selector`)."""
    if deployment is None:
        return "failed", f"deployment {name} disappeared during the rollout"
    state, why = rollout_state(deployment)
    if state == "done":
        return "done", f"rollout of {name} done: {why}"
    if state == "failed":
        return "failed", f"rollout of {name} failed: {why}"
    if expired:
        return "failed", f"rollout of {name} timed out after {timeout:g}s: {why}"
    return None


def pod_selector(deployment: dict[str, Any]) -> dict[str, str]:
    """Labels of the pods of a Deployment's current template (its selector plus the version)."""
    labels = dict(deployment["spec"]["selector"].get("matchLabels") or {})
    labels["mlops.version"] = deployment["spec"]["template"]["metadata"]["labels"].get("mlops.version", "")
    return labels


class ProxyError(Exception):
    """A request through the API server's service proxy was answered with an HTTP error."""


def label_selector(labels: dict[str, str]) -> str:
    """An equality label selector (`a=1,b=2`) for the API's `labelSelector`."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


# -- the API ------------------------------------------------------------------------------------------------------

class Cluster:
    """The few API calls the target makes, dict in and dict out; every write is a server-side apply."""

    _APIS = {"Deployment": ("AppsV1Api", "namespaced_deployment"),
             "Service": ("CoreV1Api", "namespaced_service"),
             "HorizontalPodAutoscaler": ("AutoscalingV2Api", "namespaced_horizontal_pod_autoscaler")}
    _CUSTOM = {"VirtualService": ("networking.istio.io", "v1", "virtualservices"),  # through CustomObjectsApi
               "DestinationRule": ("networking.istio.io", "v1", "destinationrules")}

    def __init__(self, api_client: Any, namespace: str) -> None:
        from kubernetes import client as k8s

        self.namespace = namespace
        self._apis = {kind: (getattr(k8s, api)(api_client), suffix) for kind, (api, suffix) in self._APIS.items()}
        self._custom = k8s.CustomObjectsApi(api_client)
        self._core = k8s.CoreV1Api(api_client)

    def _call(self, kind: str, verb: str, name: str | None, *body: Any, **kwargs: Any) -> Any:
        """`verb` (read, list, patch, delete) of `kind`, in this namespace; `name` is None for a list."""
        named = () if name is None else (name,)
        if kind in self._CUSTOM:
            custom_verb = "get" if verb == "read" else verb
            response = getattr(self._custom, f"{custom_verb}_namespaced_custom_object")(
                *self._CUSTOM[kind][:2], self.namespace, self._CUSTOM[kind][2], *named, *body,
                _preload_content=False, **kwargs)
        else:
            api, suffix = self._apis[kind]
            response = getattr(api, f"{verb}_{suffix}")(*named, self.namespace, *body, _preload_content=False,
                                                        **kwargs)
        return json.loads(response.data or b"null")

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            found: dict[str, Any] = self._call(kind, "read", name)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return found

    def find(self, kind: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        found = self._call(kind, "list", None, label_selector=label_selector(labels))
        return list(found.get("items") or [])

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        applied: dict[str, Any] = self._call(manifest["kind"], "patch", manifest["metadata"]["name"], manifest,
                                             field_manager=FIELD_MANAGER, force=True,
                                             _content_type=APPLY_CONTENT_TYPE)
        return applied

    def delete(self, kind: str, name: str) -> bool:
        from kubernetes.client.exceptions import ApiException

        try:
            self._call(kind, "delete", name, propagation_policy="Background")
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    def proxy_post(self, service: str, port: str, path: str, payload: dict[str, Any]) -> Any:
        """POST `payload` to `path` of `service:port` through the API server's service proxy; the JSON answer.
        An HTTP error raises `ProxyError` with the status and the start of the body."""
        from kubernetes.client.exceptions import ApiException

        try:
            response = self._core.api_client.call_api(
                f"/api/v1/namespaces/{{namespace}}/services/{{name}}/proxy/{path}", "POST",
                path_params={"namespace": self.namespace, "name": f"{service}:{port}"}, body=payload,
                header_params={"Content-Type": "application/json", "Accept": "application/json"},
                auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True)
        except ApiException as err:
            body = err.body.decode(errors="replace") if isinstance(err.body, bytes) else str(err.body or "")
            raise ProxyError(f"HTTP {err.status} from {service}:{port}/{path}: {body[:300]}") from None
        return json.loads(response.data or b"null")

    def pods(self, labels: dict[str, str]) -> list[dict[str, Any]]:
        response = self._core.list_namespaced_pod(self.namespace, label_selector=label_selector(labels),
                                                  _preload_content=False)
        return list(json.loads(response.data).get("items") or [])


# -- what serves ----------------------------------------------------------------------------------------------------

@dataclass
class Serving:
    """What the Service sends traffic to right now."""

    base: str
    service: dict[str, Any] | None
    active: dict[str, Any] | None
    canary: dict[str, Any] | None

    @property
    def slot(self) -> str | None:
        selector = ((self.service or {}).get("spec") or {}).get("selector") or {}
        return selector.get("mlops.slot")

    @property
    def active_name(self) -> str | None:
        return None if self.slot is None else deployment_name(self.base, self.slot)

    @property
    def version(self) -> str | None:
        if self.active is None or not self.active["spec"].get("replicas"):
            return None
        return str(self.active["spec"]["template"]["metadata"]["labels"].get("mlops.version") or "") or None


def deployment_name(base: str, slot: str) -> str:
    return base if slot == MAIN_SLOT else f"{base}-{slot}"


def track_of(base: str, name: str) -> str:
    return "stable" if name == base else name.removeprefix(f"{base}-")


def read_serving(cluster: Cluster, model: str) -> Serving:
    base = base_name(model)
    service = cluster.get("Service", base)
    serving = Serving(base, service, None, cluster.get("Deployment", f"{base}-canary"))
    if serving.active_name is not None:
        serving.active = cluster.get("Deployment", serving.active_name)
    return serving


# -- one deployment -------------------------------------------------------------------------------------------------

class RolloutFailed(Exception):
    """A rollout did not become ready, or a check refused it; the caller rolls back."""


@dataclass(frozen=True)
class Wait:
    """What a rollout waits for between two phases: the rollout of `deployment` done within `timeout` seconds,
    looked at first after `delay` seconds (a canary's bake time)."""

    deployment: str
    timeout: float
    delay: float = 0.0


@dataclass
class Progress:
    """All a rollout keeps between two waits, JSON-serialisable (the `state` of a `Pending`).

    `before` is the snapshot of what served when the deployment began (Service, serving and canary Deployments);
    the phases are rebuilt from it, so a resumed rollout continues at `phase` exactly as it would have in one
    process. `undo` holds data, not closures: `{"op": "apply", "manifest": ..., "wait": bool}` or
    `{"op": "delete", "kind": ..., "name": ...}`, each with a `label`, run last-first on a failure. `failure` is
    set once the rollout failed (from then on only undo actions run); `waiting` names what the pending wait is
    for (`undo` is the label of the undo action it belongs to, or None)."""

    model: str
    version: str
    strategy: str
    namespace: str
    options: dict[str, Any]
    canary_steps: list[int]
    before: dict[str, Any]
    phase: int = 0
    undo: list[dict[str, Any]] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    failure: str | None = None
    waiting: dict[str, Any] | None = None

    def to_state(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Progress:
        if not state:
            raise DeploymentError("a Kubernetes rollout was resumed without its saved state (the kwargs of the "
                                  "deferral were lost); what it changed so far is not rolled back")
        try:
            return cls(**state)
        except TypeError as err:
            raise DeploymentError(f"the saved state of a Kubernetes rollout is not one this version reads: {err}"
                                  ) from err


Phase = Callable[[], "Wait | None"]


class _Rollout:
    """One deployment, phase by phase: each phase makes changes (registering their undo first) and returns what
    to wait for before the next one, or None to go straight on. The waiting itself is the caller's: in-process
    for `deploy`, in Airflow's triggerer for `begin`/`resume`."""

    def __init__(self, target: KubernetesTarget, cluster: Cluster, progress: Progress,
                 config: ModelConfig | None = None) -> None:
        self.target, self.cluster, self.progress, self.config = target, cluster, progress, config
        self.model, self.version = progress.model, progress.version
        self.options = KubernetesOptions(**progress.options)
        self.base = base_name(self.model)
        self.before = Serving(self.base, **progress.before)
        self.steps = progress.steps
        self.undo = progress.undo

    # driving

    def forward(self) -> Wait | None:
        """Run the phases from the recorded one until one has to wait (returned) or all are done (None)."""
        plan = self.plan()
        while self.progress.phase < len(plan):
            wait = plan[self.progress.phase]()
            self.progress.phase += 1
            if wait is not None:
                self.progress.waiting = {"deployment": wait.deployment, "undo": None}
                return wait
        return None

    def unwind(self) -> Wait | None:
        """Run the undo actions last-first until one has to wait for a rollout (returned) or none is left."""
        while self.undo:
            action = self.undo.pop()
            try:
                wait = self._undo(action)
            except Exception as err:
                log.error("Model %s: rollback step '%s' failed: %s", self.model, action["label"], err)
                self.steps.append(f"rollback step '{action['label']}' failed: {err}")
                continue
            if wait is not None:
                self.progress.waiting = {"deployment": wait.deployment, "undo": action["label"]}
                return wait
            self.steps.append(f"rolled back: {action['label']}")
        return None

    def fail(self, reason: str) -> None:
        self.progress.failure = reason
        self.steps.append(f"failed: {reason}")

    def waited(self, event: dict[str, Any]) -> None:
        """Take in how the last wait ended (`{"status": "done" | "failed", "message": ...}`)."""
        waiting, self.progress.waiting = self.progress.waiting or {}, None
        done = event.get("status") == "done"
        message = str(event.get("message") or f"the wait ended with {event!r}")
        label = waiting.get("undo")
        if label is not None:
            self.steps.append(f"rolled back: {label}" if done else f"rollback step '{label}' failed: {message}")
        elif not done:
            self.fail(message)

    # strategies, as lists of phases

    def plan(self) -> list[Phase]:
        return {"rolling": self.rolling, "blue_green": self.blue_green,
                "canary": self.canary}[self.progress.strategy]()

    def rolling(self) -> list[Phase]:
        name, slot = self.before.active_name or self.base, self.before.slot or MAIN_SLOT

        def finish() -> None:
            self.steps.append(f"{name} rolled out v{self.version}")
            self._publish(slot, name)
            self._verify("rolled out", name, 100)
            self._remove_canary()

        return [lambda: self._update_in_place(name, slot), finish]

    def blue_green(self) -> list[Phase]:
        color = "green" if self.before.slot == "blue" else "blue"
        name = deployment_name(self.base, color)

        def apply() -> Wait:
            idle = self.cluster.get("Deployment", name)
            self._apply_deployment(name, color, color, self.options.replicas, replaced=idle)
            return self._wait(name)

        def switch() -> None:
            self.steps.append(f"{name} is ready with v{self.version}")
            self._verify(f"{color} before the switch", name, 0)
            self._publish(color, name)
            self._retire()
            self._remove_canary()

        return [apply, switch]

    def canary(self) -> list[Phase]:
        before = self.before
        if before.version is None or before.active is None or before.slot is None:
            def note() -> None:
                self.steps.append("nothing serves yet: the canary starts as a rolling deployment")

            return [note, *self.rolling()]
        name, slot = f"{self.base}-canary", before.slot
        stable_name, stable = before.active["metadata"]["name"], int(before.active["spec"].get("replicas") or 1)
        istio = self.options.istio is not None
        subsets = {"stable": track_of(self.base, stable_name), "canary": "canary"}

        def start() -> None:
            self.undo.append({"op": "delete", "label": f"delete {name}", "kind": "Deployment", "name": name})
            if istio:  # pin all traffic to the stable pods before any canary pod can take a share of it
                self._route({"stable": 100}, subsets)

        def scale(percent: int) -> Phase:
            def apply() -> Wait:
                self.cluster.apply(render_deployment(
                    self.model, self.version, self.options, name=name, track="canary", slot=slot,
                    replicas=canary_replicas(stable, percent), namespace=self.cluster.namespace))
                return self._wait(name)

            return apply

        def routed(percent: int) -> Phase:
            def route() -> None:  # once the canary pods are ready: the VirtualService gives them `percent`
                self._route({"stable": 100 - percent, "canary": percent})

            return route

        def bake() -> Wait:  # still ready after the bake time
            return Wait(name, timeout=0, delay=self.options.step_wait)

        def verified(percent: int) -> Phase:
            def verify() -> None:
                pods = canary_replicas(stable, percent)
                share = percent if istio else round(100 * pods / (pods + stable))
                self._verify(f"canary {percent}%", name, share)
                how = (f"{share}% of the traffic by the VirtualService weights" if istio
                       else f"{share}% of the pods")
                self.steps.append(f"canary {percent}%: {pods} canary pod(s) of v{self.version} beside {stable} of "
                                  f"v{before.version} ({how}) ready and verified")

            return verify

        def promote() -> None:
            self.steps.append(f"{stable_name} rolled out v{self.version}")
            if istio:  # stable has the new version: all traffic to it, then the canary subset goes
                self._route({"stable": 100}, {"stable": subsets["stable"]}, rule_first=False)
            self._publish(slot, stable_name, route=False)
            self._verify("promoted", stable_name, 100)
            self.cluster.delete("Deployment", name)
            self.steps.append(f"promoted v{self.version} to {stable_name}; removed {name}")

        phases: list[Phase] = [start]
        for percent in self.progress.canary_steps[:-1]:
            phases += [scale(percent), *([routed(percent)] if istio else []),
                       *([bake] if self.options.step_wait else []), verified(percent)]
        return [*phases, lambda: self._update_in_place(stable_name, slot), promote]

    # building blocks

    def _wait(self, name: str) -> Wait:
        return Wait(name, timeout=self.options.rollout_timeout)

    def _apply_deployment(self, name: str, track: str, slot: str, replicas: int, *,
                          replaced: dict[str, Any] | None) -> None:
        """Apply the Deployment `name` for this version; register how to undo it (restore `replaced` or delete)."""
        manifest = render_deployment(self.model, self.version, self.options, name=name, track=track, slot=slot,
                                     replicas=replicas, namespace=self.cluster.namespace, previous=self.before.active)
        if replaced is not None:
            old = replaced["spec"]["template"]["metadata"]["labels"].get("mlops.version")
            self.undo.append({"op": "apply", "label": f"restore {name} to v{old}",
                              "manifest": reapply_manifest(replaced), "wait": bool(replaced["spec"].get("replicas"))})
        else:
            self.undo.append({"op": "delete", "label": f"delete {name}", "kind": "Deployment", "name": name})
        self.cluster.apply(manifest)
        self.steps.append(f"applied {name}: v{self.version}, {replicas} replica(s), image {self.options.image}")

    def _update_in_place(self, name: str, slot: str) -> Wait:
        current = self.before.active
        self._apply_deployment(name, track_of(self.base, name), slot, self.options.replicas, replaced=current)
        return self._wait(name)

    def _undo(self, action: dict[str, Any]) -> Wait | None:
        if action["op"] == "delete":
            self.cluster.delete(action["kind"], action["name"])
            return None
        self.cluster.apply(action["manifest"])
        return self._wait(action["manifest"]["metadata"]["name"]) if action.get("wait") else None

    def _route(self, weights: dict[str, int] | None, subsets: dict[str, str] | None = None, *,
               rule_first: bool = True) -> None:
        """With `deploy.options.istio`: apply the DestinationRule with `subsets` (subset -> track; left alone when
        None) and the VirtualService with the split `weights` (None: all to the Service). The rule goes first when
        it adds a subset the new split uses, last (`rule_first=False`) when it drops one the old split used. The
        first change of each object in a rollout registers its undo (re-apply it as it was, or delete it)."""
        namespace = self.cluster.namespace
        manifests = [render_virtual_service(self.model, self.options, namespace=namespace, weights=weights)]
        if subsets is not None:
            rule = render_destination_rule(self.model, self.options, namespace=namespace, subsets=subsets)
            manifests.insert(0 if rule_first else 1, rule)
        for manifest in manifests:
            kind = manifest["kind"]
            if not any(kind in (action.get("kind"), (action.get("manifest") or {}).get("kind"))
                       for action in self.undo):
                current = self.cluster.get(kind, self.base)
                if current is None:
                    self.undo.append({"op": "delete", "label": f"delete {kind} {self.base}", "kind": kind,
                                      "name": self.base})
                else:
                    split = _describe_split(route_weights(current)) if kind == "VirtualService" else "as it was"
                    self.undo.append({"op": "apply", "label": f"{kind} {self.base} back to {split}",
                                      "manifest": reapply_manifest(current)})
            self.cluster.apply(manifest)
        if subsets is not None:
            self.steps.append(f"DestinationRule {self.base}: subset(s) {', '.join(subsets)}")
        self.steps.append(f"VirtualService {self.base}: {_describe_split(weights or {'': 100})}")

    def _publish(self, slot: str, deployment: str, *, route: bool = True) -> None:
        """Point the Service at `slot` and the autoscaler at `deployment` (both undone on a later failure). With
        Istio and `route`, the VirtualService first sends all traffic to the Service (whose selector decides), so
        a blue-green switch stays the one atomic change of the Service's selector."""
        before = self.before
        if route and self.options.istio is not None:
            self._route(None)
        wanted = render_service(self.model, self.options, slot=slot, namespace=self.cluster.namespace)
        if before.service is None:
            self.undo.append({"op": "delete", "label": f"delete service {self.base}", "kind": "Service",
                              "name": self.base})
        else:
            self.undo.append({"op": "apply", "label": f"service {self.base} back to slot {before.slot}",
                              "manifest": reapply_manifest(before.service)})
        self.cluster.apply(wanted)
        if before.slot != slot:
            self.steps.append(f"service {self.base} now selects slot {slot} (was {before.slot or 'nothing'})")
        hpa = self.cluster.get("HorizontalPodAutoscaler", self.base)
        if self.options.hpa is not None:
            if hpa is None:
                self.undo.append({"op": "delete", "label": f"delete autoscaler {self.base}",
                                  "kind": "HorizontalPodAutoscaler", "name": self.base})
            else:
                self.undo.append({"op": "apply", "label": f"autoscaler {self.base} back",
                                  "manifest": reapply_manifest(hpa)})
            self.cluster.apply(render_hpa(self.model, self.options, deployment=deployment,
                                          namespace=self.cluster.namespace))
        elif hpa is not None:
            self.cluster.delete("HorizontalPodAutoscaler", self.base)

    def _retire(self) -> None:
        """After a blue-green switch: the old Deployment per `previous_color` (kept for a quick rollback)."""
        before = self.before
        if before.active is None:
            return
        name, policy = before.active["metadata"]["name"], self.options.previous_color
        try:
            if policy == "delete":
                self.cluster.delete("Deployment", name)
                self.steps.append(f"deleted {name} (v{before.version})")
            elif policy == "scale_down":
                self.cluster.apply(reapply_manifest(before.active, replicas=0))
                self.steps.append(f"scaled {name} (v{before.version}) to 0; switch back with a rollback")
            else:
                self.steps.append(f"kept {name} (v{before.version}) running for a quick switch back")
        except Exception as err:  # the switch already happened; a leftover Deployment is not a failed deploy
            log.warning("Model %s: could not retire %s: %s", self.model, name, err)
            self.steps.append(f"could not retire {name}: {err}")

    def _remove_canary(self) -> None:
        if self.before.canary is not None:
            self.cluster.delete("Deployment", self.before.canary["metadata"]["name"])
            self.steps.append(f"removed the leftover {self.before.canary['metadata']['name']}")

    def _verify(self, stage: str, deployment: str, traffic: int) -> None:
        """The built-in smoke test (`deploy.options.smoke_test`), then the target's `check`, at one stage."""
        if self.options.smoke_test:
            self._smoke(stage, deployment)
        check = self.target.check
        if check is None:
            return
        point = CheckPoint(self.model, self.version, stage, self.cluster.namespace, self.base, deployment, traffic)
        try:
            verdict = check(point)
        except Exception as err:
            raise RolloutFailed(f"check at '{stage}' failed: {err}") from err
        if verdict is False:
            raise RolloutFailed(f"check at '{stage}' failed")
        self.steps.append(f"check at '{stage}' passed")

    def _smoke(self, stage: str, deployment: str) -> None:
        """Send holdout rows to the pods of `deployment` alone, through the API server's proxy of a preview
        Service; their predictions must equal the model's own within the latency budget."""
        if self.config is None:
            raise RolloutFailed(f"smoke test at '{stage}': no model config to read holdout rows from")
        rows, expected = self.target.smoke_inputs(self.config, self.version, self.options)
        service = preview_name(self.base, track_of(self.base, deployment))
        self.cluster.apply(render_preview_service(self.model, self.options, track=track_of(self.base, deployment),
                                                  namespace=self.cluster.namespace))
        try:
            def invoke(payload: dict[str, Any]) -> list[Any]:
                answer = self.cluster.proxy_post(service, "http", "invocations", payload)
                if not isinstance(answer, dict) or not isinstance(answer.get("predictions"), list):
                    raise ProxyError(f"expected {{'predictions': [...]}}, got {str(answer)[:200]}")
                predictions: list[Any] = answer["predictions"]
                return predictions

            check = smoke_test(invoke, rows, expected, budget_ms=self.options.latency_budget_ms,
                               label=f"smoke test of v{self.version} at '{stage}' through {service}")
        finally:
            try:
                self.cluster.delete("Service", service)
            except Exception as err:  # a leftover preview Service takes no traffic
                log.warning("Model %s: could not delete the preview service %s: %s", self.model, service, err)
        self.steps.append(check.message)
        if not check.ok:
            raise RolloutFailed(check.message)


# -- the target -----------------------------------------------------------------------------------------------------

class KubernetesTarget(DeferrableTarget):
    """Serve registered model versions on Kubernetes (see the module docstring for objects and strategies).

    `api_client` (a `kubernetes.client.ApiClient`) replaces the `KubernetesHook` of `kubernetes_conn_id` for the
    changes; the triggerer always follows a rollout through the provider's `AsyncKubernetesHook` of
    `kubernetes_conn_id` (with `cluster_context`, `config_file` and `in_cluster` as the hooks take them).
    `namespace` overrides the connection's (and is overridden by `deploy.options.namespace`); `mlflow_client`
    replaces `MlflowClient()` of the current tracking URI; `check` is called at every verification point with a
    `CheckPoint` and stops the rollout by returning False or raising; `poll_interval` is the seconds between two
    looks at a rollout.
    """

    name = TARGET

    def __init__(self, *, kubernetes_conn_id: str = "kubernetes_default", namespace: str | None = None,
                 cluster_context: str | None = None, config_file: str | None = None, in_cluster: bool | None = None,
                 api_client: Any = None, mlflow_client: MlflowClient | None = None,
                 check: Callable[[CheckPoint], Any] | None = None, poll_interval: float = 2.0) -> None:
        self.kubernetes_conn_id = kubernetes_conn_id
        self.namespace = namespace
        self.cluster_context = cluster_context
        self.config_file = config_file
        self.in_cluster = in_cluster
        self.api_client = api_client
        self.mlflow_client = mlflow_client
        self.check = check
        self.poll_interval = poll_interval
        self._smoke_inputs: dict[tuple[str, str, int], tuple[pd.DataFrame, list[Any]]] = {}

    def _registry(self) -> MlflowClient:
        if self.mlflow_client is None:
            from mlflow import MlflowClient

            self.mlflow_client = MlflowClient()
        return self.mlflow_client

    def smoke_inputs(self, config: ModelConfig, version: str,
                     options: KubernetesOptions) -> tuple[pd.DataFrame, list[Any]]:
        """Holdout rows for the smoke test and the registered version's own predictions for them (kept)."""
        key = (config.name, version, options.smoke_rows)
        if key not in self._smoke_inputs:
            from mlops_provider.training.run import tracking_uri

            try:
                rows = smoke_rows(config, options.smoke_rows)
            except Exception as err:
                raise DeploymentRefused(f"model '{config.name}': cannot read holdout rows for the smoke test: "
                                        f"{err}") from err
            try:
                with tracking_uri(self._registry().tracking_uri):
                    expected = model_predictions(config.name, version, rows)
            except Exception as err:
                raise DeploymentRefused(f"model '{config.name}': v{version} cannot predict the holdout rows "
                                        f"itself: {type(err).__name__}: {err}") from err
            self._smoke_inputs[key] = (rows, expected)
        return self._smoke_inputs[key]

    def _cluster(self, namespace: str | None = None) -> Cluster:
        """The API of the cluster, in `namespace` (default: the target's, else the connection's, else `default`)."""
        if self.api_client is None:
            from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

            hook = KubernetesHook(conn_id=self.kubernetes_conn_id, cluster_context=self.cluster_context,
                                  config_file=self.config_file, in_cluster=self.in_cluster)
            self.api_client = hook.get_conn()
            self.namespace = self.namespace or hook.get_namespace()
        return Cluster(self.api_client, namespace or self.namespace or "default")

    # deploying: `deploy` waits in-process, `begin`/`resume` hand every wait to the triggerer

    def deploy(self, model: str, version: str, strategy: str, config: ModelConfig) -> DeploymentResult:
        outcome = self.begin(model, version, strategy, config)
        while isinstance(outcome, Pending):
            event = self.wait_here(outcome.trigger_kwargs)
            outcome = self.resume(outcome.state, event, config)
        return outcome

    def begin(self, model: str, version: str, strategy: str, config: ModelConfig) -> DeploymentResult | Pending:
        check_strategy(model, strategy)
        steps = check_canary_steps(model, config.deploy.canary_steps) if strategy == "canary" else []
        version = str(version)
        registry = self._registry()
        check_version(registry, model, version)
        options = KubernetesOptions.parse(model, config.deploy.options)
        if options.smoke_test:  # refused here, before anything changes, when the rows or the model are unusable
            self.smoke_inputs(config, version, options)
        cluster = self._cluster(options.namespace)
        try:
            before = read_serving(cluster, model)
        except Exception as err:
            if _is_failure(err):
                raise DeploymentError(f"model '{model}': could not read what serves in namespace "
                                      f"'{cluster.namespace}': {err}") from err
            raise
        if self._unchanged(before, model, version, options):
            if recorded_version(registry, model, TARGET) != version:
                record_serving(registry, model, version, TARGET)
            return DeploymentResult(
                TARGET, model, version, strategy, True, before.version, before.version,
                [f"v{version} already serves with this configuration"],
                f"v{version} already serves on {cluster.namespace}/{before.base}: nothing to do")
        log.info("Model %s: deploying v%s to %s/%s (%s; serving now: %s)", model, version, cluster.namespace,
                 before.base, strategy, before.version and f"v{before.version}")
        progress = Progress(model, version, strategy, cluster.namespace, asdict(options), steps,
                            {"service": before.service, "active": before.active, "canary": before.canary})
        return self._advance(_Rollout(self, cluster, Progress.from_state(progress.to_state()), config))

    def resume(self, state: dict[str, Any], event: dict[str, Any],
               config: ModelConfig) -> DeploymentResult | Pending:
        progress = Progress.from_state(state)
        if progress.model != config.name:
            raise DeploymentError(f"model '{config.name}': the saved rollout state is for model '{progress.model}'")
        rollout = _Rollout(self, self._cluster(progress.namespace), progress, config)
        logged = len(rollout.steps)
        rollout.waited(event)
        return self._advance(rollout, logged)

    def wait_here(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Wait in this process for what a `RolloutTrigger` with `kwargs` waits for; the event it would fire."""
        name, timeout = kwargs["deployment"], float(kwargs["timeout"])
        cluster = self._cluster(kwargs["namespace"])
        try:
            time.sleep(float(kwargs.get("delay") or 0))
            deadline = datetime.fromisoformat(kwargs["deadline"])
            while True:
                deployment = cluster.get("Deployment", name)
                verdict = rollout_verdict(name, deployment, expired=datetime.now(UTC) >= deadline, timeout=timeout)
                if verdict is not None:
                    status, message = verdict
                    if status == "failed" and deployment is not None:
                        message += self._pod_problems(cluster, deployment)
                    return {"status": status, "deployment": name, "message": message}
                time.sleep(self.poll_interval)
        except Exception as err:  # like the trigger: any error ends the wait as a failure
            return {"status": "failed", "deployment": name,
                    "message": f"could not follow the rollout of {name}: {type(err).__name__}: {err}"}

    @staticmethod
    def _pod_problems(cluster: Cluster, deployment: dict[str, Any]) -> str:
        try:
            return pod_problems(cluster.pods(pod_selector(deployment)))
        except Exception as err:  # the reasons only enrich the message
            return f"; pods could not be listed: {err}"

    def _advance(self, rollout: _Rollout, logged: int = 0) -> DeploymentResult | Pending:
        """Go on from where `rollout` stands: the next wait, or the end (succeeded, or failed and rolled back).
        A `Pending` carries the steps from `logged` on (the ones not reported with an earlier `Pending`)."""
        if rollout.progress.failure is None:
            try:
                wait = rollout.forward()
            except Exception as err:
                rollout.fail(str(err) if isinstance(err, RolloutFailed) else f"{type(err).__name__}: {err}")
                if not _is_failure(err):  # a bug: undo what changed right here, then let it surface
                    self._unwind_here(rollout)
                    raise
            else:
                if wait is None:
                    return self._succeeded(rollout)
                return self._pending(rollout, wait, logged)
        wait = rollout.unwind()
        if wait is not None:
            return self._pending(rollout, wait, logged)
        return self._failed(rollout)

    def _unwind_here(self, rollout: _Rollout) -> None:
        while (wait := rollout.unwind()) is not None:
            rollout.waited(self.wait_here(self._trigger_kwargs(rollout, wait)))

    def _pending(self, rollout: _Rollout, wait: Wait, logged: int) -> Pending:
        return Pending(ROLLOUT_TRIGGER, self._trigger_kwargs(rollout, wait), rollout.progress.to_state(),
                       rollout.steps[logged:])

    def _trigger_kwargs(self, rollout: _Rollout, wait: Wait) -> dict[str, Any]:
        deadline = datetime.now(UTC) + timedelta(seconds=wait.delay + wait.timeout)
        return {"deployment": wait.deployment, "namespace": rollout.cluster.namespace,
                "deadline": deadline.isoformat(), "timeout": wait.timeout, "delay": wait.delay,
                "poll_interval": self.poll_interval, "kubernetes_conn_id": self.kubernetes_conn_id,
                "cluster_context": self.cluster_context, "config_file": self.config_file,
                "in_cluster": self.in_cluster}

    def _result(self, rollout: _Rollout) -> DeploymentResult:
        progress = rollout.progress
        return DeploymentResult(TARGET, progress.model, progress.version, progress.strategy, False,
                                rollout.before.version, rollout.before.version, rollout.steps)

    def _succeeded(self, rollout: _Rollout) -> DeploymentResult:
        registry, before = self._registry(), rollout.before
        after = read_serving(rollout.cluster, rollout.model)
        record_serving(registry, rollout.model, rollout.version, TARGET)
        result = self._result(rollout)
        result.success, result.served_version = True, after.version
        result.message = (f"v{rollout.version} serves on {rollout.cluster.namespace}/{before.base} "
                          f"({rollout.progress.strategy})"
                          + (f", replacing v{before.version}" if before.version else ""))
        return result

    def _unchanged(self, before: Serving, model: str, version: str, options: KubernetesOptions) -> bool:
        if before.version != version or before.active is None or before.canary is not None:
            return False
        annotations = before.active["metadata"].get("annotations") or {}
        return (annotations.get(HASH_ANNOTATION) == config_hash(model, version, options)
                and rollout_state(before.active)[0] == "done")

    def _failed(self, rollout: _Rollout) -> DeploymentResult:
        registry, reason = self._registry(), rollout.progress.failure or "unknown failure"
        after = read_serving(rollout.cluster, rollout.model)
        record_rollback(registry, rollout.model, rollout.version, TARGET, reason, after.version)
        result = self._result(rollout)
        result.served_version = after.version
        still = f"v{after.version} still serves" if after.version else "nothing serves (nothing did before)"
        result.message = f"{reason}; rolled back, {still}"
        log.error("Model %s: v%s on %s failed: %s", rollout.model, rollout.version, TARGET, result.message)
        return result


    def status(self, model: str, config: ModelConfig) -> DeploymentStatus:
        options = KubernetesOptions.parse(model, config.deploy.options)
        cluster = self._cluster(options.namespace)
        serving = read_serving(cluster, model)
        recorded = recorded_for_status(self._registry, model, TARGET)
        status = DeploymentStatus(TARGET, model, False, serving.version, recorded_version=recorded)
        if serving.slot is None:
            status.message = f"no service {cluster.namespace}/{serving.base}"
            return status
        behind = [d for d in cluster.find("Deployment", {"app": serving.base})
                  if d["spec"]["template"]["metadata"]["labels"].get("mlops.slot") == serving.slot]
        ready: dict[str, int] = {}
        for deployment in behind:
            label = str(deployment["spec"]["template"]["metadata"]["labels"].get("mlops.version"))
            ready[label] = ready.get(label, 0) + int((deployment.get("status") or {}).get("readyReplicas", 0))
        status.traffic = _percentages(ready)
        state, why = rollout_state(serving.active) if serving.active else ("failed", "no serving deployment")
        status.healthy = state == "done" and bool(status.traffic)
        status.message = f"service {cluster.namespace}/{serving.base} -> slot {serving.slot}: {why}"
        status.details = {"namespace": cluster.namespace, "service": serving.base, "slot": serving.slot,
                          "deployments": {d["metadata"]["name"]: {
                              "version": d["spec"]["template"]["metadata"]["labels"].get("mlops.version"),
                              "replicas": d["spec"].get("replicas", 0),
                              "ready": (d.get("status") or {}).get("readyReplicas", 0)} for d in behind}}
        if options.istio is not None:  # the traffic is the VirtualService's split, not the ratio of the pods
            split = route_weights(cluster.get("VirtualService", serving.base))
            status.details["virtual_service"] = split
            versions = {"stable": serving.version, "canary": serving.canary and str(
                serving.canary["spec"]["template"]["metadata"]["labels"].get("mlops.version"))}
            if split and all(versions.get(subset) for subset, weight in split.items() if weight):
                traffic: dict[str, int] = {}
                for subset, weight in split.items():
                    if weight:
                        label = str(versions[subset])
                        traffic[label] = traffic.get(label, 0) + weight
                status.traffic = traffic
        return status

    def rollback(self, model: str, config: ModelConfig, to_version: str | None = None) -> DeploymentResult:
        """Serve `to_version` (default: what served before) again; blue-green switches back to the old color."""
        options = KubernetesOptions.parse(model, config.deploy.options)
        serving = read_serving(self._cluster(options.namespace), model)
        target_version = to_version or previous_version(self._registry(), model, TARGET)
        if target_version is None and serving.active is not None:
            annotations = serving.active["metadata"].get("annotations") or {}
            target_version = annotations.get(PREVIOUS_VERSION_ANNOTATION) or None
        if target_version is None:
            raise DeploymentError(f"model '{model}': nothing to roll back to on {TARGET} "
                                  f"(v{serving.version} serves and no previous version is known)")
        strategy = "blue_green" if config.deploy.strategy == "blue_green" else "rolling"
        result = self.deploy(model, str(target_version), strategy, config)
        result.steps.insert(0, f"rollback from v{serving.version} to v{target_version} ({strategy})")
        return result


def _is_failure(err: Exception) -> bool:
    """Errors that mean the change failed (rolled back, reported), as opposed to bugs (re-raised)."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    return isinstance(err, RolloutFailed | ApiException | HTTPError)


def _describe_split(weights: dict[str, int]) -> str:
    """`stable 75%, canary 25%`, `all to the service`, or `nothing` for a VirtualService's split."""
    if not weights:
        return "nothing"
    if set(weights) == {""}:
        return "all to the service"
    return ", ".join(f"{subset or 'service'} {weight}%" for subset, weight in weights.items())


def _percentages(counts: dict[str, int]) -> dict[str, int]:
    """Integer percentages that sum to 100 (largest remainder), or {} when nothing counts."""
    total = sum(counts.values())
    if not total:
        return {}
    exact = {key: 100 * value / total for key, value in counts.items()}
    shares = {key: math.floor(value) for key, value in exact.items()}
    for key in sorted(exact, key=lambda k: exact[k] - shares[k], reverse=True)[:100 - sum(shares.values())]:
        shares[key] += 1
    return {key: value for key, value in shares.items() if value}
