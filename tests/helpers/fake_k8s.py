"""A stateful fake Kubernetes API server on loopback, for the Kubernetes deployment target's tests.

It is a real HTTP server (stdlib `ThreadingHTTPServer`) that the official `kubernetes` client talks to. It stores
`apps/v1` Deployments, `v1` Services, `autoscaling/v2` HorizontalPodAutoscalers and the Istio custom objects
`networking.istio.io/v1` VirtualServices and DestinationRules (validated as Istio's webhook would: hosts, subsets
with labels, route weights summing to 100; no mesh is simulated); answers GET, list (with an
equality `labelSelector`), DELETE and server-side apply (PATCH `application/apply-patch+yaml`; every other write is
refused, so a client that does not apply server-side fails loudly); and lists Pods that it derives from the
Deployments. It bumps `metadata.generation` only when a Deployment's spec changes, like the real API server.

A simulated controller advances each Deployment's status: `ready_delay` seconds after a template change every replica
is updated and available, unless the image names a failure:
- `broken` (ImagePullBackOff) or `crash` (CrashLoopBackOff): one surge pod never becomes ready, and after
  `ready_delay` the `Progressing` condition turns False with reason `ProgressDeadlineExceeded`;
- `hang`: the surge pod never becomes ready and no deadline is ever reported (the client must time out).
With `maxUnavailable: 0` the old pods keep serving meanwhile, as on a real cluster.

The service proxy (`/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH`) forwards to `proxy_upstream`, a real HTTP
server of the test, as `{proxy_upstream}/v{version}/PATH`, where `version` is the `mlops.version` label of the first
ready pod the Service selects; with no ready pod it answers 503 like the real API server.

Pods created by POST (a training's) are kept apart in `created_pods` (`tests.helpers.fake_pods`): the test's
script plays their container.

Every request is recorded (`requests`) with method, path, query and content type, and every write is recorded with
a snapshot of all Deployments' status at that instant (`writes`), so tests can ask what was ready when a Service
selector changed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.helpers.fake_pods import CreatedPods
from tests.helpers.http import send_json, send_text

APPLY = "application/apply-patch+yaml"
KINDS = {  # (group path, resource) -> (apiVersion, kind)
    ("/apis/apps/v1", "deployments"): ("apps/v1", "Deployment"),
    ("/api/v1", "services"): ("v1", "Service"),
    ("/apis/autoscaling/v2", "horizontalpodautoscalers"): ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("/apis/networking.istio.io/v1", "virtualservices"): ("networking.istio.io/v1", "VirtualService"),
    ("/apis/networking.istio.io/v1", "destinationrules"): ("networking.istio.io/v1", "DestinationRule"),
}
FAILURES = {"broken": "ImagePullBackOff", "crash": "CrashLoopBackOff"}


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


@dataclass
class Rollout:
    """What the simulated controller knows about one Deployment."""

    changed: float  # when the template or the replica count last changed
    spec_changed: float  # when the spec last changed (the controller observes it `observe_delay` later)
    good_template: dict[str, Any] | None = None  # the last template whose pods all became ready


@dataclass
class FakeKubernetes:
    ready_delay: float = 0.3
    observe_delay: float = 0.05
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)  # (kind, namespace, name)
    rollouts: dict[tuple[str, str], Rollout] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    writes: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    url: str = ""
    proxy_upstream: str = ""
    created_pods: CreatedPods = field(init=False)  # POSTed pods (a training's), run by the test's script
    _resource_version: int = 0

    def __post_init__(self) -> None:
        self.created_pods = CreatedPods(self.lock)

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_PATCH(self) -> None:
                fake._handle(self, "PATCH")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-k8s", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- what tests read ------------------------------------------------------------------------------------------

    def get(self, kind: str, name: str, namespace: str = "default") -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((kind, namespace, name))
            if obj is not None and kind == "Deployment":
                self._reconcile(obj)
            return copy.deepcopy(obj)

    def names(self, kind: str, namespace: str = "default") -> list[str]:
        with self.lock:
            return sorted(name for (k, ns, name) in self.objects if k == kind and ns == namespace)

    def writes_of(self, kind: str, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [w for w in self.writes if w["kind"] == kind and w["name"] == name]

    # -- HTTP -----------------------------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        url = url._replace(path=unquote(url.path))  # as the API server, which routes on the decoded path
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type", "")
        with self.lock:
            self.requests.append({"method": method, "path": url.path, "query": query, "content_type": content_type})
            try:
                code, payload = self._route(method, url.path, query, content_type, body)
            except ApiError as err:
                code, payload = err.code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                           "message": err.message, "reason": err.reason, "code": err.code}
        if isinstance(payload, str):
            send_text(handler, code, payload)  # a pod's log
        else:
            send_json(handler, code, payload)

    def _route(self, method: str, path: str, query: dict[str, str], content_type: str,
               body: bytes) -> tuple[int, Any]:
        parts = path.rstrip("/").split("/")
        # /api/v1/namespaces/NS/RESOURCE[/NAME] or /apis/GROUP/VERSION/namespaces/NS/RESOURCE[/NAME]
        prefix_len = 3 if parts[1] == "api" else 4
        prefix = "/".join(parts[:prefix_len])
        rest = parts[prefix_len:]
        if len(rest) < 3 or rest[0] != "namespaces":
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
        namespace, resource = rest[1], rest[2]
        name = rest[3] if len(rest) > 3 else None
        if (prefix, resource) == ("/api/v1", "services") and len(rest) > 4 and rest[4] == "proxy":
            return self._proxy(method, namespace, rest[3], "/".join(rest[5:]), content_type, body)
        if (prefix, resource) == ("/api/v1", "pods"):
            return self._pod_call(method, namespace, name, rest[4:], query, body)
        if len(rest) > 4:
            raise ApiError(404, "NotFound", f"subresource {rest[4]} is not served by this fake")
        if (prefix, resource) not in KINDS:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
        api_version, kind = KINDS[(prefix, resource)]
        if name is None:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"{method} on a collection is not supported by this fake")
            wanted = _selector(query.get("labelSelector", ""))
            items = [self._read(kind, namespace, n) for (k, ns, n) in sorted(self.objects) if k == kind
                     and ns == namespace]
            items = [i for i in items if _matches(i["metadata"].get("labels", {}), wanted)]
            return 200, {"kind": f"{kind}List", "apiVersion": api_version, "metadata": {}, "items": items}
        if method == "GET":
            return 200, self._read(kind, namespace, name)
        if method == "DELETE":
            self._read(kind, namespace, name)
            del self.objects[(kind, namespace, name)]
            self.rollouts.pop((namespace, name), None) if kind == "Deployment" else None
            self._record_write("DELETE", kind, name, None)
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        if method == "PATCH":
            if content_type.split(";")[0].strip() != APPLY:
                raise ApiError(415, "UnsupportedMediaType",
                               f"this fake only accepts server-side apply ({APPLY}), got '{content_type}'")
            return 200, self._apply(kind, api_version, namespace, name, query, body)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported by this fake: use server-side apply")

    def _proxy(self, method: str, namespace: str, target: str, path: str, content_type: str,
               body: bytes) -> tuple[int, dict[str, Any]]:
        """The API server's service proxy: to a ready pod of the Service, here to the test's upstream server."""
        name, _, port = target.partition(":")
        service = self.objects.get(("Service", namespace, name))
        if service is None:
            raise ApiError(404, "NotFound", f'services "{name}" not found')
        ports = {str(p.get(key)) for p in service["spec"]["ports"] for key in ("name", "port")}
        if port and port not in ports:
            raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{target}"')
        ready = [pod for pod in self._pods(namespace, service["spec"]["selector"])
                 if pod["status"]["containerStatuses"][0]["ready"]]
        if not ready or not self.proxy_upstream:
            raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
        version = ready[0]["metadata"]["labels"].get("mlops.version")
        request = urllib.request.Request(f"{self.proxy_upstream}/v{version}/{path}", data=body or None,
                                         method=method, headers={"Content-Type": content_type or "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                code, data = response.status, response.read()
        except urllib.error.HTTPError as err:
            code, data = err.code, err.read()
        try:
            return code, json.loads(data)
        except ValueError:
            return code, {"message": data.decode(errors="replace")}

    def _pod_call(self, method: str, namespace: str, name: str | None, sub: list[str], query: dict[str, str],
                  body: bytes) -> tuple[int, Any]:
        """Pods: the Deployments' (listed only) and those created by POST (`created_pods`)."""
        created = self.created_pods
        if name is None and method == "GET":
            wanted = _selector(query.get("labelSelector", ""))
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                         "items": self._pods(namespace, wanted) + created.matching(namespace, wanted)}
        if name is None and method == "POST":
            pod = json.loads(body)
            try:
                return 201, created.create(namespace, pod)
            except KeyError:
                raise ApiError(409, "AlreadyExists", f'pods "{pod["metadata"]["name"]}" already exists') from None
        if sub == ["log"] and method == "GET":
            text = created.log(namespace, str(name), query.get("tailLines"))
            if text is None:
                raise ApiError(404, "NotFound", f'pods "{name}" not found')
            return 200, text
        if not sub and method == "GET" and created.get(namespace, str(name)) is not None:
            return 200, created.get(namespace, str(name))
        if not sub and method == "DELETE" and created.delete(namespace, str(name)):
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        if not sub and method in ("GET", "DELETE"):
            raise ApiError(404, "NotFound", f'pods "{name}" not found')
        raise ApiError(405, "MethodNotAllowed", f"{method} of pods{'/' + '/'.join(sub) if sub else ''} is not "
                                                "served by this fake")

    def _read(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        obj = self.objects.get((kind, namespace, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{kind.lower()}s "{name}" not found')
        if kind == "Deployment":
            self._reconcile(obj)
        return copy.deepcopy(obj)

    # -- server-side apply ----------------------------------------------------------------------------------------

    def _apply(self, kind: str, api_version: str, namespace: str, name: str, query: dict[str, str],
               body: bytes) -> dict[str, Any]:
        manager = query.get("fieldManager")
        if not manager:
            raise ApiError(400, "BadRequest", "fieldManager is required for apply requests")
        try:
            applied = yaml.safe_load(body.decode())
        except yaml.YAMLError as err:
            raise ApiError(400, "BadRequest", f"error decoding YAML: {err}") from None
        if not isinstance(applied, dict) or applied.get("kind") != kind or applied.get("apiVersion") != api_version:
            raise ApiError(400, "BadRequest", f"body must be a {api_version} {kind}")
        meta = applied.get("metadata") or {}
        if meta.get("name") != name:
            raise ApiError(400, "BadRequest", f"metadata.name '{meta.get('name')}' does not match the URL '{name}'")
        spec = _defaulted(kind, copy.deepcopy(applied.get("spec") or {}))
        self._validate(kind, name, spec)
        old = self.objects.get((kind, namespace, name))
        if old is not None:
            owner = (old["metadata"].get("managedFields") or [{}])[0].get("manager")
            if owner != manager and not _parse_bool(query.get("force", "false")):
                raise ApiError(409, "Conflict", f"Apply failed with 1 conflict: conflict with \"{owner}\"")
            if kind == "Deployment" and old["spec"]["selector"] != spec["selector"]:
                raise ApiError(422, "Invalid", f'Deployment.apps "{name}" is invalid: spec.selector: Invalid value: '
                                               "field is immutable")
            if kind == "Service":
                spec["clusterIP"] = old["spec"].get("clusterIP")
        now = time.monotonic()
        self._resource_version += 1
        if old is None:
            obj: dict[str, Any] = {
                "apiVersion": api_version, "kind": kind,
                "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "generation": 1,
                             "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                "spec": spec, "status": {},
            }
            if kind == "Service":
                spec["clusterIP"] = f"10.96.0.{len(self.objects) % 250 + 2}"
            if kind == "Deployment":
                self.rollouts[(namespace, name)] = Rollout(changed=now, spec_changed=now)
        else:
            obj = old
            if kind == "Deployment" and obj["spec"] != spec:
                obj["metadata"]["generation"] += 1
                self.rollouts[(namespace, name)].spec_changed = now
                if obj["spec"]["template"] != spec["template"] or obj["spec"].get("replicas") != spec.get("replicas"):
                    self.rollouts[(namespace, name)].changed = now
            obj["spec"] = spec
        obj["metadata"]["labels"] = dict(meta.get("labels") or {})
        obj["metadata"]["annotations"] = dict(meta.get("annotations") or {})
        obj["metadata"]["resourceVersion"] = str(self._resource_version)
        obj["metadata"]["managedFields"] = [{"manager": manager, "operation": "Apply", "apiVersion": api_version}]
        self.objects[(kind, namespace, name)] = obj
        self._record_write("APPLY", kind, name, obj)
        return self._read(kind, namespace, name)

    def _validate(self, kind: str, name: str, spec: dict[str, Any]) -> None:
        if kind == "Deployment":
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            wanted = (spec.get("selector") or {}).get("matchLabels") or {}
            if not wanted or not _matches(labels, wanted):
                raise ApiError(422, "Invalid", f'Deployment.apps "{name}" is invalid: spec.template.metadata.labels: '
                                               "`selector` does not match template `labels`")
            for container in spec["template"].get("spec", {}).get("containers") or [{}]:
                if not container.get("name") or not container.get("image"):
                    raise ApiError(422, "Invalid", f'Deployment.apps "{name}" is invalid: containers need a name '
                                                   "and an image")
        if kind == "Service" and not spec.get("ports"):
            raise ApiError(422, "Invalid", f'Service "{name}" is invalid: spec.ports: Required value')
        if kind == "HorizontalPodAutoscaler" and not (spec.get("scaleTargetRef") or {}).get("name"):
            raise ApiError(422, "Invalid", f'HorizontalPodAutoscaler "{name}" is invalid: scaleTargetRef.name')
        if kind == "VirtualService":
            _validate_virtual_service(name, spec)
        if kind == "DestinationRule":
            subsets = spec.get("subsets") or []
            names = [subset.get("name") for subset in subsets]
            if not spec.get("host") or not all(names) or len(set(names)) != len(names) \
                    or not all(subset.get("labels") for subset in subsets):
                raise ApiError(400, "BadRequest", f'admission webhook denied DestinationRule "{name}": a host and '
                                                  "subsets with unique names and labels are required")

    def _record_write(self, verb: str, kind: str, name: str, obj: dict[str, Any] | None) -> None:
        deployments = {}
        for (k, _ns, n), dep in self.objects.items():
            if k == "Deployment":
                self._reconcile(dep)
                deployments[n] = {"generation": dep["metadata"]["generation"], "spec_replicas": dep["spec"]["replicas"],
                                  "version": dep["spec"]["template"]["metadata"]["labels"].get("mlops.version"),
                                  **copy.deepcopy(dep["status"])}
        self.writes.append({"time": time.monotonic(), "verb": verb, "kind": kind, "name": name,
                            "object": copy.deepcopy(obj), "deployments": deployments})

    # -- the simulated controller ---------------------------------------------------------------------------------

    def _reconcile(self, dep: dict[str, Any]) -> None:
        """Set `dep`'s status from the time since its template changed (what a Deployment controller would do)."""
        meta, spec = dep["metadata"], dep["spec"]
        rollout = self.rollouts[(meta["namespace"], meta["name"])]
        wanted, template = spec["replicas"], spec["template"]
        now = time.monotonic()
        if dep["status"] and now - rollout.spec_changed < self.observe_delay:
            return  # the controller has not seen the new spec yet: the status still describes the old one
        elapsed = now - rollout.changed
        image = template["spec"]["containers"][0]["image"]
        failure = next((reason for word, reason in FAILURES.items() if word in image), None)
        stuck = failure is not None or "hang" in image
        old_ready = wanted if rollout.good_template is not None else 0
        if template == rollout.good_template or wanted == 0 or (elapsed >= self.ready_delay and not stuck):
            if wanted:
                rollout.good_template = copy.deepcopy(template)
            counts = {"replicas": wanted, "updatedReplicas": wanted, "readyReplicas": wanted,
                      "availableReplicas": wanted}
            progressing = ("True", "NewReplicaSetAvailable",
                           f'ReplicaSet "{meta["name"]}" has successfully progressed.')
        else:  # maxUnavailable 0: one surge pod of the new template, the old pods keep serving
            surge = 1
            counts = {"replicas": old_ready + surge, "updatedReplicas": surge, "readyReplicas": old_ready,
                      "availableReplicas": old_ready, "unavailableReplicas": surge}
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{meta["name"]}" is progressing.')
            if failure is not None and elapsed >= self.ready_delay:
                progressing = ("False", "ProgressDeadlineExceeded",
                               f'ReplicaSet "{meta["name"]}-{_hash(template)}" has timed out progressing.')
        available = counts["availableReplicas"] >= wanted
        status: dict[str, Any] = {"observedGeneration": meta["generation"]}
        status.update({key: value for key, value in counts.items() if value})  # zero fields are omitted, as real
        status["conditions"] = [
            {"type": "Available", "status": "True" if available else "False",
             "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable"},
            {"type": "Progressing", "status": progressing[0], "reason": progressing[1], "message": progressing[2]},
        ]
        dep["status"] = status

    def _pods(self, namespace: str, wanted: dict[str, str]) -> list[dict[str, Any]]:
        pods = []
        for (kind, ns, name), dep in sorted(self.objects.items()):
            if kind != "Deployment" or ns != namespace:
                continue
            self._reconcile(dep)
            rollout, template = self.rollouts[(ns, name)], dep["spec"]["template"]
            replicas = dep["spec"]["replicas"]
            groups = []
            if rollout.good_template is not None:
                groups.append((rollout.good_template, replicas, None))
            if template != rollout.good_template and replicas:
                image = template["spec"]["containers"][0]["image"]
                reason = next((r for word, r in FAILURES.items() if word in image), "ContainerCreating")
                groups.append((template, 1, reason))
            for pod_template, count, reason in groups:
                for index in range(count):
                    labels = dict(pod_template["metadata"].get("labels") or {})
                    if _matches(labels, wanted):
                        pods.append(_pod(f"{name}-{_hash(pod_template)}-{index}", namespace, labels, reason))
        return pods


@contextmanager
def fake_cluster(**settings: Any) -> Iterator[tuple[FakeKubernetes, Any]]:
    """A started `FakeKubernetes(**settings)` and a `kubernetes.client.ApiClient` talking to it."""
    from kubernetes import client

    fake = FakeKubernetes(**settings)
    url = fake.start()
    api = client.ApiClient(client.Configuration(host=url))
    try:
        yield fake, api
    finally:
        api.close()
        fake.stop()


def airflow_connection(url: str, namespace: str) -> str:
    """A `kubernetes` Airflow connection (an AIRFLOW_CONN_ value) to the fake at `url`, the way a deployment
    configures one: an inline kube config and a default namespace."""
    kube_config = {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                   "clusters": [{"name": "fake", "cluster": {"server": url}}],
                   "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
                   "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}]}
    return json.dumps({"conn_type": "kubernetes", "extra": {"kube_config": kube_config, "namespace": namespace}})


def _validate_virtual_service(name: str, spec: dict[str, Any]) -> None:
    """What Istio's validating webhook refuses: no hosts, routes without a destination host, weights that do not
    add up to 100 (a single destination may omit its weight)."""
    def refuse(why: str) -> ApiError:
        return ApiError(400, "BadRequest", f'admission webhook denied VirtualService "{name}": {why}')

    if not spec.get("hosts"):
        raise refuse("hosts: Required value")
    for http in spec.get("http") or []:
        route = http.get("route") or []
        if not route or not all((d.get("destination") or {}).get("host") for d in route):
            raise refuse("http.route: every destination needs a host")
        weights = [d.get("weight") for d in route]
        if any(w is not None and (not isinstance(w, int) or w < 0) for w in weights):
            raise refuse(f"weights must be non-negative integers, got {weights}")
        if (len(route) > 1 or weights[0] is not None) and sum(w or 0 for w in weights) != 100:
            raise refuse(f"total destination weight {sum(w or 0 for w in weights)} != 100")


def _pod(name: str, namespace: str, labels: dict[str, str], waiting: str | None) -> dict[str, Any]:
    ready = waiting is None
    state: dict[str, Any] = {"running": {}} if ready else {
        "waiting": {"reason": waiting, "message": f"simulated {waiting} for the test image"}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "status": {"phase": "Running" if ready else "Pending",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": "server", "ready": ready, "restartCount": 0, "state": state,
                                              "image": "", "imageID": ""}]}}


def _defaulted(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The few defaults the real API server fills in, so the stored spec differs from the applied one."""
    if kind == "Deployment":
        spec.setdefault("replicas", 1)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("strategy", {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    if kind == "Service":
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
    return spec


def _parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool, which the API server uses for query parameters."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ApiError(400, "BadRequest", f"invalid boolean value {text!r}")


def _selector(text: str) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in text.split(",") if item]
    return {key.strip(): value.strip().lstrip("=") for key, value in pairs}


def _matches(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in wanted.items())


def _hash(template: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def version_of(deployment: dict[str, Any]) -> str:
    """The model version a Deployment runs (its pod template's `mlops.version` label)."""
    return str(deployment["spec"]["template"]["metadata"]["labels"]["mlops.version"])
