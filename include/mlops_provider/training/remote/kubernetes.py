"""`trainer.runner: kubernetes`: the training as a pod running `mlops train`, its result read back from its log.

The pod runs the repository image with the model config's resources, node selector and service account. The MLflow
server's address goes in as a value, its login only as a reference (`valueFrom.secretKeyRef` to `trainer.kubernetes.
secret`, which MLflow reads as MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD): it never appears in the pod's
spec, the task's log or an error. A retry adopts the pod of an earlier try that is still starting, running or has
succeeded (found by the label `mlops.training=<key>`) instead of starting a second one.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import ConfigError, RunnerError, TrainingError
from mlops_provider.training.remote import LOG_TAIL, RemoteTraining, _tail, parse_result

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlops_provider.config import ModelConfig
    from mlops_provider.training.remote.options import KubernetesRunner
    from mlops_provider.xcom import TrainingResult

CONTAINER = "train"
LABEL_KEY, LABEL_MODEL, LABEL_TRY = "mlops.training", "mlops.model", "mlops.try"
SECRET_ENV = {"MLFLOW_TRACKING_USERNAME": "username", "MLFLOW_TRACKING_PASSWORD": "password"}  # env -> secret key
DETERMINISTIC_EXIT = 2  # `mlops train`: config, data or trainer failed; a retry would fail the same way
ADOPTABLE = ("Pending", "Running", "Succeeded")


def pod_manifest(options: KubernetesRunner, training: RemoteTraining, namespace: str) -> dict[str, Any]:
    """The pod of `training`'s try (a dict the API takes as is)."""
    env: list[dict[str, Any]] = [{"name": "MLFLOW_TRACKING_URI", "value": training.tracking_uri},
                                 {"name": "PYTHONUNBUFFERED", "value": "1"}]
    if options.secret is not None:
        env += [{"name": name, "valueFrom": {"secretKeyRef": {"name": options.secret, "key": key}}}
                for name, key in SECRET_ENV.items()]
    container: dict[str, Any] = {"name": CONTAINER, "image": options.image, "command": training.command(),
                                 "env": env}
    if options.resources:
        container["resources"] = {kind: dict(amounts) for kind, amounts in options.resources.items()}
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if options.node_selector:
        spec["nodeSelector"] = dict(options.node_selector)
    if options.service_account:
        spec["serviceAccountName"] = options.service_account
    labels = {LABEL_KEY: training.key, LABEL_MODEL: training.model.replace("_", "-"),
              LABEL_TRY: str(training.try_number)}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": training.name, "namespace": namespace, "labels": labels,
                         "annotations": {"mlops/dag-id": training.dag_id, "mlops/run-id": training.run_id}},
            "spec": spec}


class Pods:
    """The few pod calls of a training, dict in and dict out."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        from kubernetes import client as k8s

        self.core = k8s.CoreV1Api(api_client)
        self.namespace = namespace

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        response = self.core.create_namespaced_pod(self.namespace, manifest, _preload_content=False)
        return dict(json.loads(response.data))

    def read(self, name: str) -> dict[str, Any]:
        response = self.core.read_namespaced_pod(name, self.namespace, _preload_content=False)
        return dict(json.loads(response.data))

    def find(self, key: str) -> list[dict[str, Any]]:
        response = self.core.list_namespaced_pod(self.namespace, label_selector=f"{LABEL_KEY}={key}",
                                                 _preload_content=False)
        return list(json.loads(response.data).get("items") or [])

    def log(self, name: str, lines: int) -> str:
        response = self.core.read_namespaced_pod_log(name, self.namespace, container=CONTAINER, tail_lines=lines,
                                                     _preload_content=False)
        return bytes(response.data).decode(errors="replace")

    def delete(self, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.core.delete_namespaced_pod(name, self.namespace, _preload_content=False)
        except ApiException as err:
            if err.status != 404:
                raise


def _api_client(options: KubernetesRunner) -> tuple[Any, str | None]:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    hook = KubernetesHook(conn_id=options.conn_id)
    return hook.get_conn(), hook.get_namespace()


def start_pod(config: ModelConfig, options: KubernetesRunner, training: RemoteTraining, *, has_login: bool,
              log: Callable[..., None], api_client: Any = None) -> tuple[Pods, str]:
    """Adopt the pod of an earlier try that is starting, running or has succeeded, or create this try's; returns
    the pods' API and the pod's name.

    :param has_login: the MLflow connection has a login, which the pod can only get from `options.secret`.
    :param api_client: a `kubernetes.client.ApiClient`; default: the `KubernetesHook` of `options.conn_id`.
    """
    if has_login and options.secret is None:
        raise ConfigError(f"{config.source}: key 'trainer.kubernetes.secret': the MLflow connection has a login; "
                          "name the Kubernetes Secret (keys `username`, `password`) the pod reads it from")
    pods = connect(options, api_client)
    name = _adopt(pods, training, log)
    if name is None:
        name = training.name
        pods.create(pod_manifest(options, training, pods.namespace))
        log("Training pod %s/%s started (image %s)", pods.namespace, name, options.image)
    return pods, name


def connect(options: KubernetesRunner, api_client: Any = None, namespace: str | None = None) -> Pods:
    """The pod API in `namespace`, else `options.namespace`, else the connection's, else `default`."""
    namespace = namespace or options.namespace
    if api_client is None:
        api_client, connection_namespace = _api_client(options)
        namespace = namespace or connection_namespace
    return Pods(api_client, namespace or "default")


def run_pod(config: ModelConfig, options: KubernetesRunner, training: RemoteTraining, *, has_login: bool,
            log: Callable[..., None], api_client: Any = None, poll_interval: float = 5.0) -> TrainingResult:
    """Run (or adopt) the training pod of `training`, waiting here, and return the TrainingResult it printed.

    :param poll_interval: seconds between two reads of the pod's phase.
    """
    pods, name = start_pod(config, options, training, has_login=has_login, log=log, api_client=api_client)
    return finish_pod(config, pods, _wait(pods, name, options.startup_timeout_s, poll_interval, log))


def finish_pod(config: ModelConfig, pods: Pods, pod: dict[str, Any]) -> TrainingResult:
    """The result of a pod that has ended: read from its log (then the pod is deleted), or the error of its failure."""
    name = str(pod["metadata"]["name"])
    where = f"model '{config.name}': training pod {pods.namespace}/{name}"
    if (pod.get("status") or {}).get("phase") != "Succeeded":
        raise _failure(pods, pod, where)
    result = parse_result(pods.log(name, 200), where=where)
    pods.delete(name)  # read: a retry from here on finds the MLflow run itself (train_and_log reuses it)
    return result


def not_started(pods: Pods, name: str, startup_timeout: float, why: str) -> RunnerError:
    """Delete the pod that did not start in time (a retry starts a fresh one) and say why it did not."""
    pods.delete(name)
    return RunnerError(f"training pod {pods.namespace}/{name} still Pending after {startup_timeout:g}s "
                       f"({why or 'not scheduled or not started'}); deleted it (trainer.kubernetes.startup_timeout_s)")


def _adopt(pods: Pods, training: RemoteTraining, log: Callable[..., None]) -> str | None:
    """The pod of an earlier try of this task that has succeeded or may still (newest first), else None."""
    found = sorted(pods.find(training.key), key=lambda p: int(p["metadata"]["labels"].get(LABEL_TRY, "0")),
                   reverse=True)
    for pod in found:
        phase = (pod.get("status") or {}).get("phase")
        if phase in ADOPTABLE:
            log("Adopting training pod %s of an earlier try (phase %s)", pod["metadata"]["name"], phase)
            return str(pod["metadata"]["name"])
    return None


def _wait(pods: Pods, name: str, startup_timeout: float, poll_interval: float,
          log: Callable[..., None]) -> dict[str, Any]:
    """The pod once it has succeeded or failed; a pod Pending past `startup_timeout` is deleted and fails."""
    started = time.monotonic()
    last_phase = None
    while True:
        pod = pods.read(name)
        phase = (pod.get("status") or {}).get("phase")
        if phase != last_phase:
            log("Training pod %s: %s", name, phase)
            last_phase = phase
        if phase in ("Succeeded", "Failed"):
            return pod
        if phase in (None, "Pending") and time.monotonic() - started > startup_timeout:
            raise not_started(pods, name, startup_timeout, waiting_reason(pod))
        time.sleep(poll_interval)


def waiting_reason(pod: dict[str, Any]) -> str:
    """Why the container waits (`ImagePullBackOff: ...`), or the pod's unschedulable condition."""
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting:
            return f"{waiting.get('reason')}: {waiting.get('message', '')}".rstrip(": ")
    for condition in status.get("conditions") or []:
        if condition.get("status") == "False" and condition.get("message"):
            return f"{condition.get('reason')}: {condition['message']}"
    return ""


def _failure(pods: Pods, pod: dict[str, Any], where: str) -> Exception:
    """The error of a failed pod: its exit code, reason and the tail of its log. `mlops train`'s deterministic
    exit status becomes a TrainingError (no retry); anything else (OOMKilled, evicted) may pass on a retry."""
    terminated: dict[str, Any] = {}
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if container.get("name") == CONTAINER:
            terminated = (container.get("state") or {}).get("terminated") or {}
    code = terminated.get("exitCode")
    reason = terminated.get("reason") or (pod.get("status") or {}).get("reason") or "Failed"
    try:
        tail = _tail(pods.log(str(pod["metadata"]["name"]), LOG_TAIL * 4))
    except Exception as err:  # the node may be gone with the log: the exit status still says what happened
        tail = f"(log unavailable: {type(err).__name__})"
    message = f"{where} failed ({reason}, exit code {code}); the end of its log:\n{tail}"
    return TrainingError(message) if code == DETERMINISTIC_EXIT else RunnerError(message)
