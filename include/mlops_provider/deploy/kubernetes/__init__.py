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
`mlops_provider.triggers.kubernetes.KubernetesRolloutTrigger` with a JSON state (`Progress`: the snapshot of what served
before, the next phase, the undo actions as data, the steps); `deploy` runs the same phases and waits in-process.

With `deploy.options.smoke_test: true`, every verification point first sends `smoke_rows` holdout rows (default 20)
to the pods being verified alone, through the API server's service proxy of a preview Service
(`<base>-<track>-preview`, removed afterwards): their predictions must equal the registered version's own and the
p95 latency stay within `latency_budget_ms` (default 500), or the rollout is rolled back.

Everything is written with server-side apply (`application/apply-patch+yaml`, field manager `mlops`, force) through
the cncf-kubernetes provider's `KubernetesHook`, or through an injected `kubernetes.client.ApiClient`.
Deploying the version that serves, with the same rendered configuration, changes nothing.

The package, one concern per module: `options` (`deploy.options`, checked), `manifests` (what is applied, Istio's
objects included), `cluster` (the API calls and what serves now), `rollout` (the rollout verdicts and the state
machine), `target` (`KubernetesTarget` and its in-process waiter). The public names below are imported lazily, so
the triggerer, which needs only `rollout`, never loads the target.
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
