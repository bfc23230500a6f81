"""One Kubernetes rollout: when a Deployment's rollout is done or failed (the verdicts the triggerer and the
in-process waiter share), and the state machine that runs a strategy phase by phase and undoes it on a failure.

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
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mlops_provider.deploy.kubernetes.cluster import ProxyError, Serving
from mlops_provider.deploy.kubernetes.manifests import (
    MAIN_SLOT,
    base_name,
    canary_replicas,
    deployment_name,
    label_selector,
    preview_name,
    reapply_manifest,
    render_deployment,
    render_destination_rule,
    render_hpa,
    render_preview_service,
    render_service,
    render_virtual_service,
    route_weights,
    track_of,
)
from mlops_provider.deploy.kubernetes.options import KubernetesOptions
from mlops_provider.deploy.smoke import smoke_test
from mlops_provider.exceptions import DeploymentError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig
    from mlops_provider.deploy.kubernetes.cluster import Cluster

log = logging.getLogger(__name__)


# -- verdicts: how the rollout of one Deployment stands ------------------------------------------------------------

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



def pod_label_selector(deployment: dict[str, Any]) -> str:
    """`pod_selector` of a Deployment as the API's `labelSelector`."""
    return label_selector(pod_selector(deployment))


# -- one deployment -------------------------------------------------------------------------------------------------

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



class Verifier(Protocol):
    """What a rollout asks of its target at each verification point."""

    check: Callable[[CheckPoint], Any] | None

    def smoke_inputs(self, config: ModelConfig, version: str,
                     options: KubernetesOptions) -> tuple[pd.DataFrame, list[Any]]: ...


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


class Rollout:
    """One deployment, phase by phase: each phase makes changes (registering their undo first) and returns what
    to wait for before the next one, or None to go straight on. The waiting itself is the caller's: in-process
    for `deploy`, in Airflow's triggerer for `begin`/`resume`."""

    def __init__(self, target: Verifier, cluster: Cluster, progress: Progress,
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



def _describe_split(weights: dict[str, int]) -> str:
    """`stable 75%, canary 25%`, `all to the service`, or `nothing` for a VirtualService's split."""
    if not weights:
        return "nothing"
    if set(weights) == {""}:
        return "all to the service"
    return ", ".join(f"{subset or 'service'} {weight}%" for subset, weight in weights.items())
