"""The Kubernetes API as the target uses it: a few calls, dict in and dict out, and what serves a model now."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlops_provider.deploy.kubernetes.manifests import FIELD_MANAGER, base_name, deployment_name, label_selector

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"


class ProxyError(Exception):
    """A request through the API server's service proxy was answered with an HTTP error."""


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



def read_serving(cluster: Cluster, model: str) -> Serving:
    base = base_name(model)
    service = cluster.get("Service", base)
    serving = Serving(base, service, None, cluster.get("Deployment", f"{base}-canary"))
    if serving.active_name is not None:
        serving.active = cluster.get("Deployment", serving.active_name)
    return serving
