"""Kubernetes deployment target: a model version as a Deployment behind a Service, applied server-side.

The package, one concern per module: `options` (`deploy.options`, checked), `manifests` (what is applied, Istio's
objects included), `cluster` (the API calls and what serves now), `rollout` (the rollout verdicts and the state
machine), `target` (`KubernetesTarget` and its in-process waiter). The public names are imported lazily, so the
triggerer, which needs only `rollout`, never loads the target. The README's Deployment section is the user's guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_provider.deploy._lazy import lazy_names

if TYPE_CHECKING:
    from mlops_provider.deploy.kubernetes.cluster import Cluster, ProxyError, Serving, read_serving
    from mlops_provider.deploy.kubernetes.manifests import (
        base_name,
        canary_replicas,
        config_hash,
        render_deployment,
        render_destination_rule,
        render_service,
        render_virtual_service,
        route_weights,
    )
    from mlops_provider.deploy.kubernetes.options import DEFAULT_IMAGE, KubernetesOptions
    from mlops_provider.deploy.kubernetes.rollout import (
        CheckPoint,
        Progress,
        RolloutFailed,
        pod_problems,
        pod_selector,
        rollout_state,
        rollout_verdict,
    )
    from mlops_provider.deploy.kubernetes.target import ROLLOUT_TRIGGER, TARGET, KubernetesTarget

_PUBLIC = {
    "cluster": ("Cluster", "ProxyError", "Serving", "read_serving"),
    "manifests": ("base_name", "canary_replicas", "config_hash", "render_deployment", "render_destination_rule",
                  "render_service", "render_virtual_service", "route_weights"),
    "options": ("DEFAULT_IMAGE", "KubernetesOptions"),
    "rollout": ("CheckPoint", "Progress", "RolloutFailed", "pod_problems", "pod_selector", "rollout_state",
                "rollout_verdict"),
    "target": ("ROLLOUT_TRIGGER", "TARGET", "KubernetesTarget"),
}
__all__ = [
    "CheckPoint",
    "Cluster",
    "DEFAULT_IMAGE",
    "KubernetesOptions",
    "KubernetesTarget",
    "Progress",
    "ProxyError",
    "ROLLOUT_TRIGGER",
    "RolloutFailed",
    "Serving",
    "TARGET",
    "base_name",
    "canary_replicas",
    "config_hash",
    "pod_problems",
    "pod_selector",
    "read_serving",
    "render_deployment",
    "render_destination_rule",
    "render_service",
    "render_virtual_service",
    "rollout_state",
    "rollout_verdict",
    "route_weights",
]


__getattr__ = lazy_names(__name__, _PUBLIC)
