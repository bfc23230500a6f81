"""`KubernetesTarget`: deploys, reports and rolls back through the rollout state machine, waiting in Airflow's
triggerer (`begin`/`resume`) or in this process (`deploy`, `wait_here`).

With `deploy.options.smoke_test: true`, every verification point first sends `smoke_rows` holdout rows (default 20)
to the pods being verified alone, through the API server's service proxy of a preview Service
(`<base>-<track>-preview`, removed afterwards): their predictions must equal the registered version's own and the
p95 latency stay within `latency_budget_ms` (default 500), or the rollout is rolled back.

Everything is written with server-side apply (`application/apply-patch+yaml`, field manager `mlops`, force) through
the cncf-kubernetes provider's `KubernetesHook`, or through an injected `kubernetes.client.ApiClient`.
Deploying the version that serves, with the same rendered configuration, changes nothing.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict
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
from mlops_provider.deploy.kubernetes.cluster import Cluster, Serving, read_serving
from mlops_provider.deploy.kubernetes.manifests import (
    HASH_ANNOTATION,
    PREVIOUS_VERSION_ANNOTATION,
    config_hash,
    route_weights,
)
from mlops_provider.deploy.kubernetes.options import KubernetesOptions
from mlops_provider.deploy.kubernetes.rollout import (
    CheckPoint,
    Progress,
    Rollout,
    RolloutFailed,
    Wait,
    pod_problems,
    pod_selector,
    rollout_state,
    rollout_verdict,
)
from mlops_provider.deploy.smoke import model_predictions, smoke_rows
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
ROLLOUT_TRIGGER = "mlops_provider.triggers.kubernetes.KubernetesRolloutTrigger"


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

    def smoke_inputs(self, config: ModelConfig, version: str,
                     options: KubernetesOptions) -> tuple[pd.DataFrame, list[Any]]:
        """Holdout rows for the smoke test and the registered version's own predictions for them (kept)."""
        key = (config.name, version, options.smoke_rows)
        if key not in self._smoke_inputs:
            from mlops_provider.tracking import tracking_uri

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

    def cluster(self, namespace: str | None = None) -> Cluster:
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
        cluster = self.cluster(options.namespace)
        try:
            before = read_serving(cluster, model)
        except Exception as err:
            if _is_failure(err):
                raise DeploymentError(f"model '{model}': could not read what serves in namespace "
                                      f"'{cluster.namespace}': {err}") from err
            raise
        if self._unchanged(before, model, version, options):
            if recorded_version(registry, model, self.place) != version:
                record_serving(registry, model, version, self.place)
            return DeploymentResult(
                TARGET, model, version, strategy, True, before.version, before.version,
                [f"v{version} already serves with this configuration"],
                f"v{version} already serves on {cluster.namespace}/{before.base}: nothing to do")
        log.info("Model %s: deploying v%s to %s/%s (%s; serving now: %s)", model, version, cluster.namespace,
                 before.base, strategy, before.version and f"v{before.version}")
        progress = Progress(model, version, strategy, cluster.namespace, asdict(options), steps,
                            {"service": before.service, "active": before.active, "canary": before.canary})
        return self._advance(Rollout(self, cluster, Progress.from_state(progress.to_state()), config))

    def resume(self, state: dict[str, Any], event: dict[str, Any],
               config: ModelConfig) -> DeploymentResult | Pending:
        progress = Progress.from_state(state)
        if progress.model != config.name:
            raise DeploymentError(f"model '{config.name}': the saved rollout state is for model '{progress.model}'")
        rollout = Rollout(self, self.cluster(progress.namespace), progress, config)
        logged = len(rollout.steps)
        rollout.waited(event)
        return self._advance(rollout, logged)

    def wait_here(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Wait in this process for what a `KubernetesRolloutTrigger` with `kwargs` waits for; the event it would
        fire."""
        name, timeout = kwargs["deployment"], float(kwargs["timeout"])
        cluster = self.cluster(kwargs["namespace"])
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

    def _advance(self, rollout: Rollout, logged: int = 0) -> DeploymentResult | Pending:
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

    def _unwind_here(self, rollout: Rollout) -> None:
        while (wait := rollout.unwind()) is not None:
            rollout.waited(self.wait_here(self._trigger_kwargs(rollout, wait)))

    def _pending(self, rollout: Rollout, wait: Wait, logged: int) -> Pending:
        return Pending(ROLLOUT_TRIGGER, self._trigger_kwargs(rollout, wait), rollout.progress.to_state(),
                       rollout.steps[logged:])

    def _trigger_kwargs(self, rollout: Rollout, wait: Wait) -> dict[str, Any]:
        deadline = datetime.now(UTC) + timedelta(seconds=wait.delay + wait.timeout)
        return {"deployment": wait.deployment, "namespace": rollout.cluster.namespace,
                "deadline": deadline.isoformat(), "timeout": wait.timeout, "delay": wait.delay,
                "poll_interval": self.poll_interval, "kubernetes_conn_id": self.kubernetes_conn_id,
                "cluster_context": self.cluster_context, "config_file": self.config_file,
                "in_cluster": self.in_cluster}

    def _result(self, rollout: Rollout) -> DeploymentResult:
        progress = rollout.progress
        return DeploymentResult(TARGET, progress.model, progress.version, progress.strategy, False,
                                rollout.before.version, rollout.before.version, rollout.steps)

    def _succeeded(self, rollout: Rollout) -> DeploymentResult:
        registry, before = self._registry(), rollout.before
        after = read_serving(rollout.cluster, rollout.model)
        record_serving(registry, rollout.model, rollout.version, self.place,
                       reason=f"{rollout.progress.strategy} rollout verified")
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

    def _failed(self, rollout: Rollout) -> DeploymentResult:
        registry, reason = self._registry(), rollout.progress.failure or "unknown failure"
        after = read_serving(rollout.cluster, rollout.model)
        record_rollback(registry, rollout.model, rollout.version, self.place, reason, after.version)
        result = self._result(rollout)
        result.served_version = after.version
        still = f"v{after.version} still serves" if after.version else "nothing serves (nothing did before)"
        result.message = f"{reason}; rolled back, {still}"
        log.error("Model %s: v%s on %s failed: %s", rollout.model, rollout.version, TARGET, result.message)
        return result


    def status(self, model: str, config: ModelConfig) -> DeploymentStatus:
        options = KubernetesOptions.parse(model, config.deploy.options)
        cluster = self.cluster(options.namespace)
        serving = read_serving(cluster, model)
        recorded = recorded_for_status(self._registry, model, self.place)
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
        serving = read_serving(self.cluster(options.namespace), model)
        target_version = to_version or previous_version(self._registry(), model, self.place)
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
