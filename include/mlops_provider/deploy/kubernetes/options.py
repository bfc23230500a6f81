"""`deploy.options` of the Kubernetes target, checked into `KubernetesOptions` (no Kubernetes import here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from mlops_provider.deploy.options import Bad, TargetOptions, check_integer

DEFAULT_IMAGE = "ghcr.io/example/mlops-model-server:latest"
DEFAULT_RESOURCES: dict[str, Any] = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
ISTIO_KEYS = {"host", "hosts", "gateway"}
# `env: {NAME: {valueFrom: {<source>: {...}}}}`: each source's required and optional fields, as Kubernetes has them.
VALUE_FROM: dict[str, tuple[set[str], set[str]]] = {
    "secretKeyRef": ({"name", "key"}, {"optional"}),
    "configMapKeyRef": ({"name", "key"}, {"optional"}),
    "fieldRef": ({"fieldPath"}, {"apiVersion"}),
}
ENV_FROM = ("secretRef", "configMapRef")  # `env_from: [{secretRef: {name, optional}}, ...]`, Kubernetes' envFrom


@dataclass(frozen=True)
class KubernetesOptions(TargetOptions):
    """`deploy.options` of a model whose target is `kubernetes`, checked."""

    target: ClassVar[str] = "kubernetes"

    image: str = DEFAULT_IMAGE
    namespace: str | None = None
    replicas: int = 2
    port: int = 8080
    service_port: int = 80
    service_type: str = "ClusterIP"
    resources: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_RESOURCES))
    env: dict[str, str | dict[str, Any]] = field(default_factory=dict)  # a value, or {"valueFrom": {...}}
    env_from: list[dict[str, Any]] = field(default_factory=list)
    hpa: dict[str, int] | None = None
    rollout_timeout: float = 600.0
    progress_deadline: int = 300
    step_wait: float = 30.0
    previous_color: str = "scale_down"
    smoke_test: bool = False
    smoke_rows: int = 20
    latency_budget_ms: float = 500.0
    istio: dict[str, Any] | None = None  # {"host": str | None, "hosts": [...], "gateways": [...]}, see _parse_istio

    @classmethod
    def check(cls, values: dict[str, Any], bad: Bad) -> dict[str, Any]:
        for key in ("image", "service_type", "previous_color"):
            if key in values and (not isinstance(values[key], str) or not values[key]):
                raise bad(key, f"expected a non-empty string, got {values[key]!r}")
        for key in ("replicas", "port", "service_port", "progress_deadline", "smoke_rows"):
            check_integer(values, key, bad, 1)
        for key in ("rollout_timeout", "step_wait"):
            if key in values and (not isinstance(values[key], int | float) or values[key] < 0):
                raise bad(key, f"expected a number of seconds, got {values[key]!r}")
        if "latency_budget_ms" in values and (not isinstance(values["latency_budget_ms"], int | float)
                                              or isinstance(values["latency_budget_ms"], bool)
                                              or values["latency_budget_ms"] <= 0):
            raise bad("latency_budget_ms", f"expected a positive number of milliseconds, got "
                                           f"{values['latency_budget_ms']!r}")
        if "smoke_test" in values and not isinstance(values["smoke_test"], bool):
            raise bad("smoke_test", f"expected true or false, got {values['smoke_test']!r}")
        if values.get("previous_color", "scale_down") not in ("scale_down", "keep", "delete"):
            raise bad("previous_color", f"expected scale_down, keep or delete, got {values['previous_color']!r}")
        if "resources" in values and not isinstance(values["resources"], dict):
            raise bad("resources", "expected a mapping like {requests: {cpu: 250m}, limits: {memory: 1Gi}}")
        cls.check_on_load(values, bad)
        if "hpa" in values:
            values["hpa"] = _parse_hpa(values["hpa"], bad)
            values.setdefault("replicas", values["hpa"]["min"])
        if "istio" in values:
            values["istio"] = _parse_istio(values["istio"], bad)
        return values

    @classmethod
    def check_on_load(cls, values: dict[str, Any], bad: Bad) -> None:
        if "env" in values:
            values["env"] = _parse_env(values["env"], bad)
        if "env_from" in values:
            values["env_from"] = _parse_env_from(values["env_from"], bad)


def _parse_env(raw: Any, bad: Bad) -> dict[str, str | dict[str, Any]]:
    """`deploy.options.env`: NAME -> a plain value (made a string), or NAME -> {valueFrom: {secretKeyRef: {name,
    key}}} (or configMapKeyRef, fieldRef), passed to Kubernetes as it is."""
    if not isinstance(raw, dict):
        raise bad("env", f"expected a mapping of variable names to values or to {{valueFrom: ...}}, got {raw!r}")
    env: dict[str, str | dict[str, Any]] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name or "=" in name:
            raise bad("env", f"{name!r} is not a variable name")
        if isinstance(value, str | int | float):
            env[name] = str(value)
        elif isinstance(value, dict) and set(value) == {"valueFrom"}:
            env[name] = {"valueFrom": _value_from(value["valueFrom"], bad, f"env.{name}.valueFrom")}
        else:
            raise bad(f"env.{name}", f"expected a plain value or {{valueFrom: {{secretKeyRef: {{name, key}}}}}} "
                                     f"(or configMapKeyRef, fieldRef), got {value!r}")
    return env


def _value_from(raw: Any, bad: Bad, key: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in VALUE_FROM:
        raise bad(key, f"expected one of {', '.join(VALUE_FROM)}, got {raw!r}")
    source, ref = next(iter(raw.items()))
    required, optional = VALUE_FROM[source]
    return {source: _reference(ref, required, optional, bad, f"{key}.{source}")}


def _parse_env_from(raw: Any, bad: Bad) -> list[dict[str, Any]]:
    """`deploy.options.env_from`: Kubernetes' envFrom, a list of {secretRef: {name}} or {configMapRef: {name}}
    (each with an optional `prefix`), every key of the Secret or ConfigMap becoming a variable."""
    if not isinstance(raw, list):
        raise bad("env_from", f"expected a list like [{{secretRef: {{name: my-secret}}}}], got {raw!r}")
    sources = []
    for index, entry in enumerate(raw):
        key = f"env_from[{index}]"
        kinds = [k for k in entry if k in ENV_FROM] if isinstance(entry, dict) else []
        if len(kinds) != 1 or set(entry) - {*kinds, "prefix"}:
            raise bad(key, f"expected {{secretRef: {{name}}}} or {{configMapRef: {{name}}}} (and an optional "
                           f"prefix), got {entry!r}")
        kind = kinds[0]
        source: dict[str, Any] = {kind: _reference(entry[kind], {"name"}, {"optional"}, bad, f"{key}.{kind}")}
        if "prefix" in entry:
            if not isinstance(entry["prefix"], str) or not entry["prefix"] or "=" in entry["prefix"]:
                raise bad(f"{key}.prefix", f"expected a variable name prefix, got {entry['prefix']!r}")
            source["prefix"] = entry["prefix"]
        sources.append(source)
    return sources


def _reference(raw: Any, required: set[str], optional: set[str], bad: Bad, key: str) -> dict[str, Any]:
    """A reference to a Secret, ConfigMap or field: `required` names (non-empty strings), maybe `optional`
    (true/false) or `apiVersion`."""
    fields = ", ".join(sorted(required) + sorted(optional))
    if not isinstance(raw, dict) or not required <= set(raw) <= required | optional:
        raise bad(key, f"expected {{{fields}}} ({', '.join(sorted(required))} required), got {raw!r}")
    for name, value in raw.items():
        if name == "optional" and not isinstance(value, bool):
            raise bad(f"{key}.optional", f"expected true or false, got {value!r}")
        if name != "optional" and (not isinstance(value, str) or not value):
            raise bad(f"{key}.{name}", f"expected a non-empty string, got {value!r}")
    return dict(raw)


def _parse_hpa(raw: Any, bad: Bad) -> dict[str, int]:
    if not isinstance(raw, dict) or set(raw) != {"min", "max", "cpu"}:
        raise bad("hpa", f"expected {{min, max, cpu}}, got {raw!r}")
    if not all(isinstance(raw[k], int) and not isinstance(raw[k], bool) for k in raw):
        raise bad("hpa", f"min, max and cpu must be integers, got {raw!r}")
    if not 1 <= raw["min"] <= raw["max"] or not 1 <= raw["cpu"] <= 100:
        raise bad("hpa", f"need 1 <= min <= max and cpu (target utilization in %) in 1..100, got {raw!r}")
    return {"min": raw["min"], "max": raw["max"], "cpu": raw["cpu"]}


def _parse_istio(raw: Any, bad: Bad) -> dict[str, Any] | None:
    """`deploy.options.istio`: false/null (off), true (the Service's own host) or {host, hosts, gateway}."""
    if raw is None or raw is False:
        return None
    if raw is True:
        raw = {}
    if not isinstance(raw, dict):
        raise bad("istio", f"expected true or a mapping like {{host: <service host>, gateway: <gateway>}}, "
                           f"got {raw!r}")
    unknown = sorted(set(raw) - ISTIO_KEYS)
    if unknown:
        raise bad("istio", f"unknown key(s) {unknown}: expected host, hosts or gateway")

    def name(value: Any) -> bool:
        return isinstance(value, str) and bool(value) and not any(c.isspace() for c in value)

    def names(key: str) -> list[str]:
        value = raw.get(key)
        if value is None:
            return []
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not value or not all(name(v) for v in value):
            raise bad(f"istio.{key}", f"expected a host name or a non-empty list of them, got {raw[key]!r}")
        return list(value)

    host = raw.get("host")
    if host is not None and (not name(host) or "*" in host or "/" in host):
        raise bad("istio.host", f"expected the Service's host name (e.g. svc.ns.svc.cluster.local), got {host!r}")
    return {"host": host, "hosts": names("hosts"), "gateways": names("gateway")}
