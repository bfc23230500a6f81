"""Pods created through the fake Kubernetes API server (`fake_k8s.FakeKubernetes.created_pods`), run by the test.

`POST .../pods` stores the pod Pending; then, unless its image names a failure (`broken`: ImagePullBackOff, the
pod stays Pending for ever), it turns Running and the test's `script` is called with the pod as created, in a
thread: it does what the container would (e.g. runs `mlops train` for real) and returns its exit code and output.
The pod then ends Succeeded (exit 0) or Failed, with the container's `terminated` state; its output is served by
the `log` subresource (with `tailLines`). Pods can be read, listed by label (with the Deployments' pods) and
deleted. What the pod's environment refers to (`valueFrom.secretKeyRef`) is resolved from `secrets` by
`resolved_env`, as the kubelet would.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FAILURES = {"broken": ("ImagePullBackOff", 'Back-off pulling image: manifest unknown')}


@dataclass(frozen=True)
class PodOutcome:
    """What the container did: its exit code and everything it printed."""

    exit_code: int
    output: str


Script = Callable[[dict[str, Any]], PodOutcome]


@dataclass
class CreatedPods:
    lock: threading.RLock
    script: Script | None = None
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # Secret name -> its data
    pods: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (namespace, name)
    outputs: dict[tuple[str, str], str] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)  # every pod as posted

    def create(self, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
        name = pod["metadata"]["name"]
        if (namespace, name) in self.pods:
            raise KeyError(name)
        pod = copy.deepcopy(pod)
        pod["metadata"]["namespace"] = namespace
        image = pod["spec"]["containers"][0]["image"]
        waiting = next((reason for word, reason in FAILURES.items() if word in image),
                       ("ContainerCreating", ""))
        pod["status"] = {"phase": "Pending", "containerStatuses": [
            _container(pod, {"waiting": {"reason": waiting[0], "message": waiting[1]}})]}
        self.pods[(namespace, name)] = pod
        self.created.append(copy.deepcopy(pod))
        if waiting[0] == "ContainerCreating":
            threading.Thread(target=self._run, args=(namespace, name), daemon=True).start()
        return copy.deepcopy(pod)

    def _run(self, namespace: str, name: str) -> None:
        time.sleep(0.05)
        with self.lock:
            pod = self.pods.get((namespace, name))
            if pod is None:
                return
            pod["status"] = {"phase": "Running", "containerStatuses": [_container(pod, {"running": {}})]}
            spec = copy.deepcopy(pod)
        outcome = self.script(spec) if self.script else PodOutcome(0, "")
        with self.lock:
            pod = self.pods.get((namespace, name))
            if pod is None:
                return
            self.outputs[(namespace, name)] = outcome.output
            reason = "Completed" if outcome.exit_code == 0 else "Error"
            pod["status"] = {"phase": "Succeeded" if outcome.exit_code == 0 else "Failed", "containerStatuses": [
                _container(pod, {"terminated": {"exitCode": outcome.exit_code, "reason": reason}})]}

    def resolved_env(self, pod: dict[str, Any]) -> dict[str, str]:
        """The container's environment as the kubelet sets it: values, and secret keys looked up."""
        env = {}
        for item in pod["spec"]["containers"][0].get("env") or []:
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            env[item["name"]] = self.secrets[ref["name"]][ref["key"]] if ref else item["value"]
        return env

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        pod = self.pods.get((namespace, name))
        return copy.deepcopy(pod) if pod is not None else None

    def matching(self, namespace: str, wanted: dict[str, str]) -> list[dict[str, Any]]:
        return [copy.deepcopy(pod) for (ns, _), pod in sorted(self.pods.items()) if ns == namespace
                and all(pod["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())]

    def log(self, namespace: str, name: str, tail: str | None) -> str | None:
        if (namespace, name) not in self.pods:
            return None
        lines = self.outputs.get((namespace, name), "").splitlines()
        return "\n".join(lines[-int(tail):] if tail else lines)

    def delete(self, namespace: str, name: str) -> bool:
        self.outputs.pop((namespace, name), None)
        return self.pods.pop((namespace, name), None) is not None


def _container(pod: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    container = pod["spec"]["containers"][0]
    return {"name": container["name"], "image": container["image"], "ready": "running" in state,
            "restartCount": 0, "state": state}
