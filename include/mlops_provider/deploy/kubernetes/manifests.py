"""What the Kubernetes target applies: names and labels of a model's objects, the Deployment, Service, autoscaler
and preview Service manifests, and Istio's DestinationRule and VirtualService. Plain dicts, no API calls.

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
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_provider.deploy.kubernetes.options import KubernetesOptions

FIELD_MANAGER = "mlops"
HASH_ANNOTATION = "mlops/config-hash"
PREVIOUS_VERSION_ANNOTATION = "mlops/previous-version"
PREVIOUS_TEMPLATE_ANNOTATION = "mlops/previous-template"
MAIN_SLOT = "main"
COLORS = ("blue", "green")
ISTIO_API = "networking.istio.io/v1"


def base_name(model: str) -> str:
    """DNS-safe name of a model's objects: `credit_default` -> `mlops-credit-default` (at most 50 characters)."""
    slug = f"mlops-{model.replace('_', '-')}".rstrip("-")
    if len(slug) <= 50:
        return slug
    return f"{slug[:43].rstrip('-')}-{hashlib.sha256(model.encode()).hexdigest()[:6]}"


def common_labels(model: str) -> dict[str, str]:
    return {"app": base_name(model), "mlops.model": model, "app.kubernetes.io/managed-by": FIELD_MANAGER}


def render_container(model: str, version: str, options: KubernetesOptions) -> dict[str, Any]:
    """The model server's container. `env` entries with `valueFrom` and `env_from` go to Kubernetes as they are, so
    a credential stays in its Secret: the Deployment holds only the reference."""
    env = {**options.env, "MLOPS_MODEL": model, "MLOPS_VERSION": version}
    container: dict[str, Any] = {
        "name": "server",
        "image": options.image,
        "command": ["mlops", "serve", model, "--version", version, "--host", "0.0.0.0", "--port", str(options.port)],
        "ports": [{"name": "http", "containerPort": options.port, "protocol": "TCP"}],
        "env": [{"name": name, **value} if isinstance(value, dict) else {"name": name, "value": value}
                for name, value in sorted(env.items())],
        "resources": options.resources,
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "initialDelaySeconds": 5,
                           "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "initialDelaySeconds": 15,
                          "periodSeconds": 10, "failureThreshold": 3},
    }
    if options.env_from:  # only when set: the config hash of a container without it stays as it was
        container["envFrom"] = options.env_from
    return container


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



def deployment_name(base: str, slot: str) -> str:
    return base if slot == MAIN_SLOT else f"{base}-{slot}"


def track_of(base: str, name: str) -> str:
    return "stable" if name == base else name.removeprefix(f"{base}-")



def label_selector(labels: dict[str, str]) -> str:
    """An equality label selector (`a=1,b=2`) for the API's `labelSelector`."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
