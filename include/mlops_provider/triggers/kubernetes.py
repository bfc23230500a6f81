"""Waits in the triggerer on Kubernetes: `KubernetesRolloutTrigger` until a Deployment's rollout is done or failed,
`TrainingPodTrigger` until a training pod has ended or did not start in time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from mlops_provider.deploy.kubernetes.rollout import pod_label_selector, pod_problems, rollout_verdict


class KubernetesRolloutTrigger(BaseTrigger):
    """Reads the Deployment `deployment` in `namespace` every `poll_interval` seconds, after an initial `delay`
    (a canary's bake time), through the cncf-kubernetes provider's `AsyncKubernetesHook`, until its rollout is done
    (`observedGeneration` caught up, updated and available replicas equal the spec), failed
    (`ProgressDeadlineExceeded`), or `deadline` (an ISO timestamp, so a restarted triggerer does not extend it)
    passed. Fires one event `{"status": "done" | "failed", "deployment": ..., "message": ...}`; a failure's
    message carries the waiting reasons of the Deployment's pods (ImagePullBackOff, CrashLoopBackOff). `timeout`
    (seconds) only words the message of a timeout."""

    def __init__(self, *, deployment: str, namespace: str, deadline: str, timeout: float, delay: float = 0.0,
                 poll_interval: float = 5.0, kubernetes_conn_id: str = "kubernetes_default",
                 cluster_context: str | None = None, config_file: str | None = None,
                 in_cluster: bool | None = None) -> None:
        super().__init__()
        self.deployment = deployment
        self.namespace = namespace
        self.deadline = deadline
        self.timeout = timeout
        self.delay = delay
        self.poll_interval = poll_interval
        self.kubernetes_conn_id = kubernetes_conn_id
        self.cluster_context = cluster_context
        self.config_file = config_file
        self.in_cluster = in_cluster

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("mlops_provider.triggers.kubernetes.KubernetesRolloutTrigger", {
            "deployment": self.deployment, "namespace": self.namespace, "deadline": self.deadline,
            "timeout": self.timeout, "delay": self.delay, "poll_interval": self.poll_interval,
            "kubernetes_conn_id": self.kubernetes_conn_id, "cluster_context": self.cluster_context,
            "config_file": self.config_file, "in_cluster": self.in_cluster,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            payload = await self._follow()
        except Exception as err:  # noqa: BLE001 - any failure ends the wait; the task rolls back
            payload = {"status": "failed", "deployment": self.deployment,
                       "message": f"could not follow the rollout of {self.deployment}: {type(err).__name__}: {err}"}
        yield TriggerEvent(payload)

    async def _follow(self) -> dict[str, Any]:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook

        # the async hook reads a kube config file only from the connection, so a given one comes as a dict
        config_dict = await asyncio.to_thread(_load_yaml, self.config_file) if self.config_file else None
        hook = AsyncKubernetesHook(conn_id=self.kubernetes_conn_id, cluster_context=self.cluster_context,
                                   config_dict=config_dict, in_cluster=self.in_cluster)
        deadline = datetime.fromisoformat(self.deadline)
        if self.delay:
            await asyncio.sleep(self.delay)
        while True:
            async with hook.get_conn() as api_client:
                deployment = await read_deployment(api_client, self.namespace, self.deployment)
                verdict = rollout_verdict(self.deployment, deployment, expired=datetime.now(UTC) >= deadline,
                                          timeout=self.timeout)
                if verdict is not None:
                    status, message = verdict
                    if status == "failed" and deployment is not None:
                        message += await self._pod_problems(api_client, deployment)
                    return {"status": status, "deployment": self.deployment, "message": message}
            self.log.info("Rollout of %s/%s in progress; next look in %ss", self.namespace, self.deployment,
                          self.poll_interval)
            await asyncio.sleep(self.poll_interval)

    async def _pod_problems(self, api_client: Any, deployment: dict[str, Any]) -> str:
        from kubernetes_asyncio.client import CoreV1Api

        try:
            response = await CoreV1Api(api_client).list_namespaced_pod(
                self.namespace, label_selector=pod_label_selector(deployment), _preload_content=False)
            pods = await _json(response)
        except Exception as err:  # noqa: BLE001 - the reasons only enrich the message
            return f"; pods could not be listed: {err}"
        return pod_problems(list((pods or {}).get("items") or []))


class TrainingPodTrigger(BaseTrigger):
    """Reads the training pod `pod` in `namespace` every `poll_interval` seconds through the provider's
    `AsyncKubernetesHook` until it has ended (`Succeeded`, `Failed`), or is still `Pending` at `deadline` (an ISO
    timestamp: the pod's start plus `trainer.kubernetes.startup_timeout_s`, so a restarted triggerer does not extend
    it). Fires one event `{"status": "ended" | "not_started" | "error", "pod", "namespace", "message"}`; the task
    reads the result or the failure (`training.remote.kubernetes.finish_pod`) when it resumes."""

    def __init__(self, *, pod: str, namespace: str, deadline: str, poll_interval: float = 10.0,
                 kubernetes_conn_id: str = "kubernetes_default") -> None:
        super().__init__()
        self.pod = pod
        self.namespace = namespace
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.kubernetes_conn_id = kubernetes_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("mlops_provider.triggers.kubernetes.TrainingPodTrigger", {
            "pod": self.pod, "namespace": self.namespace, "deadline": self.deadline,
            "poll_interval": self.poll_interval, "kubernetes_conn_id": self.kubernetes_conn_id})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        where = {"pod": self.pod, "namespace": self.namespace}
        try:
            payload = await self._follow()
        except Exception as err:  # noqa: BLE001 - any failure ends the wait; the task reports it and may retry
            payload = {"status": "error", "message": f"could not follow training pod {self.namespace}/{self.pod}: "
                                                     f"{type(err).__name__}: {err}"}
        yield TriggerEvent({**where, **payload})

    async def _follow(self) -> dict[str, Any]:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook
        from kubernetes_asyncio.client import CoreV1Api

        from mlops_provider.training.remote.kubernetes import waiting_reason

        hook = AsyncKubernetesHook(conn_id=self.kubernetes_conn_id)
        deadline = datetime.fromisoformat(self.deadline)
        last = None
        while True:
            async with hook.get_conn() as api_client:
                pod = await _json(await CoreV1Api(api_client).read_namespaced_pod(
                    self.pod, self.namespace, _preload_content=False))
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                return {"status": "ended", "message": f"training pod {self.pod}: {phase}"}
            if phase in (None, "Pending") and datetime.now(UTC) >= deadline:
                return {"status": "not_started", "message": waiting_reason(pod)}
            if phase != last:
                self.log.info("Training pod %s/%s: %s", self.namespace, self.pod, phase)
                last = phase
            await asyncio.sleep(self.poll_interval)


async def read_deployment(api_client: Any, namespace: str, name: str) -> dict[str, Any] | None:
    """The Deployment as the API server returns it (plain JSON), or None when there is none."""
    from kubernetes_asyncio.client import AppsV1Api

    response: Any = await AppsV1Api(api_client).read_namespaced_deployment(name, namespace, _preload_content=False)
    if response.status == 404:
        response.release()
        return None
    found: dict[str, Any] = await _json(response)
    return found


async def _json(response: Any) -> Any:
    """The body of a raw (not preloaded) response; an HTTP error raises with the API server's message."""
    body = await response.read()
    if not 200 <= response.status < 300:
        try:
            message = json.loads(body).get("message") or body.decode(errors="replace")
        except ValueError:
            message = body.decode(errors="replace")
        raise RuntimeError(f"HTTP {response.status} from the Kubernetes API: {message}")
    return json.loads(body or b"null")


def _load_yaml(path: str) -> dict[str, Any]:
    import yaml

    with open(path) as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded
