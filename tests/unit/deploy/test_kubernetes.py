"""The Kubernetes target against a stateful fake API server on loopback (tests/fake_k8s.py) and the
real MLflow test server. No real cluster is involved: what a kubelet or an Ingress would do is not tested here."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mlops_provider.deploy import get_target
from mlops_provider.deploy.kubernetes import (
    DEFAULT_IMAGE,
    CheckPoint,
    KubernetesTarget,
    base_name,
    canary_replicas,
    rollout_state,
    route_weights,
)
from mlops_provider.exceptions import DeploymentError, DeploymentRefused
from tests.helpers.deploy_registry import model_config, register_versions, served_on
from tests.helpers.fake_k8s import APPLY, FakeKubernetes, fake_cluster, version_of

FAST = {"rollout_timeout": 5, "step_wait": 0, "replicas": 3}
BROKEN = "registry.example/mlops-model-server:broken"


@pytest.fixture
def cluster() -> Iterator[tuple[FakeKubernetes, Any]]:
    with fake_cluster(ready_delay=0.3) as started:
        yield started


@pytest.fixture
def fake(cluster: tuple[FakeKubernetes, Any]) -> FakeKubernetes:
    return cluster[0]


@pytest.fixture
def make_target(cluster: tuple[FakeKubernetes, Any]) -> Any:
    def make(client: Any, check: Any = None) -> KubernetesTarget:
        return KubernetesTarget(api_client=cluster[1], mlflow_client=client, check=check, poll_interval=0.02)

    return make


@pytest.fixture
def registry(mlflow_server: str) -> Any:
    def make(count: int = 2) -> tuple[str, Any]:
        return register_versions(mlflow_server, "k8s", count)

    return make


alias = served_on("kubernetes")


def assert_only_the_untouched_stable_v1_is_left(fake: FakeKubernetes, client: Any, model: str, *,
                                                failed_because: str) -> None:
    """After a failed canary of v2: the stable Deployment alone, never changed, v1 recorded, v2 tagged with why."""
    base = base_name(model)
    assert fake.names("Deployment") == [base]
    assert fake.get("Deployment", base)["metadata"]["generation"] == 1
    assert alias(client, model) == "1"
    assert failed_because in client.get_model_version(model, "2").tags["mlops.deploy.kubernetes.failed"]


def test_rendered_objects_are_applied_server_side_and_the_rollout_is_awaited(fake, make_target, registry) -> None:
    model, client = registry(1)
    config = model_config(model, "kubernetes", **FAST, hpa={"min": 3, "max": 6, "cpu": 70},
                          resources={"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
                          env={"MLFLOW_TRACKING_URI": "http://mlflow.mlops:5000"})
    began = time.monotonic()
    result = make_target(client).deploy(model, "1", "rolling", config)
    took = time.monotonic() - began
    assert result.success and result.served_version == "1" and result.previous_version is None, result
    base = base_name(model)

    deployment = fake.get("Deployment", base)
    assert deployment["metadata"]["labels"]["app"] == base == f"mlops-{model.replace('_', '-')}"
    assert deployment["metadata"]["labels"]["mlops.model"] == model
    assert deployment["metadata"]["labels"]["mlops.version"] == "1"
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    pod_labels = spec["template"]["metadata"]["labels"]
    assert {pod_labels["app"], pod_labels["mlops.model"], pod_labels["mlops.version"]} == {base, model, "1"}
    assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == DEFAULT_IMAGE
    assert container["command"][:5] == ["mlops", "serve", model, "--version", "1"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    assert {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.mlops:5000"} in container["env"]

    service = fake.get("Service", base)
    assert service["spec"]["selector"] == {"app": base, "mlops.slot": "main"}
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = fake.get("HorizontalPodAutoscaler", base)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": base}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 6)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70

    writes = [r for r in fake.requests if r["method"] != "GET"]
    assert {r["method"] for r in writes} == {"PATCH"}
    assert all(r["content_type"] == APPLY and r["query"].get("fieldManager") == "mlops"
               and r["query"].get("force", "").lower() == "true" for r in writes), writes
    assert {r["path"].rsplit("/", 2)[-2] for r in writes} == {"deployments", "services", "horizontalpodautoscalers"}
    assert deployment["metadata"]["managedFields"][0]["manager"] == "mlops"

    # it returned only once the controller reported the rollout complete, not on the first (stale) status
    assert took >= fake.ready_delay
    assert rollout_state(deployment)[0] == "done" and deployment["status"]["availableReplicas"] == 3
    polls = [r for r in fake.requests if r["method"] == "GET" and r["path"].endswith(f"/deployments/{base}")]
    assert len(polls) > 3
    assert alias(client, model) == "1"


def test_rolling_update_bumps_the_generation_once_and_keeps_the_previous_template(fake, make_target,
                                                                                  registry) -> None:
    model, client = registry(2)
    config = model_config(model, "kubernetes", **FAST)
    target = make_target(client)
    assert target.deploy(model, "1", "rolling", config).success
    result = target.deploy(model, "2", "rolling", config)
    assert result.success and result.served_version == "2" and result.previous_version == "1", result
    deployment = fake.get("Deployment", base_name(model))
    assert deployment["metadata"]["generation"] == 2 and version_of(deployment) == "2"
    annotations = deployment["metadata"]["annotations"]
    assert annotations["mlops/previous-version"] == "1"
    assert json.loads(annotations["mlops/previous-template"])["metadata"]["labels"]["mlops.version"] == "1"
    applied = fake.writes_of("Deployment", base_name(model))[-1]
    assert applied["deployments"][base_name(model)]["observedGeneration"] == 1  # stale at the moment of the apply
    assert alias(client, model) == "2"
    assert client.get_registered_model(model).tags["mlops.deploy.kubernetes.previous"] == "1"


def test_the_same_version_twice_changes_nothing(fake, make_target, registry) -> None:
    model, client = registry(1)
    config = model_config(model, "kubernetes", **FAST)
    target = make_target(client)
    assert target.deploy(model, "1", "rolling", config).success
    seen = len(fake.requests)
    again = target.deploy(model, "1", "rolling", config)
    assert again.success and again.served_version == "1" and "nothing to do" in again.message
    assert [r["method"] for r in fake.requests[seen:]] == ["GET"] * len(fake.requests[seen:])
    assert fake.get("Deployment", base_name(model))["metadata"]["generation"] == 1
    # a changed configuration of the serving version does roll out
    bigger = model_config(model, "kubernetes", **{**FAST, "replicas": 4})
    assert target.deploy(model, "1", "rolling", bigger).success
    assert fake.get("Deployment", base_name(model))["metadata"]["generation"] == 2


def test_a_broken_image_is_rolled_back_and_the_previous_version_keeps_serving(fake, make_target, registry) -> None:
    model, client = registry(2)
    target = make_target(client)
    assert target.deploy(model, "1", "rolling", model_config(model, "kubernetes", **FAST)).success
    broken = model_config(model, "kubernetes", **FAST, image=BROKEN)
    result = target.deploy(model, "2", "rolling", broken)

    assert not result.success and result.served_version == "1" and result.previous_version == "1", result
    assert "ProgressDeadlineExceeded" in result.message and "ImagePullBackOff" in result.message
    assert "v1 still serves" in result.message
    assert any(step.startswith("rolled back: restore") for step in result.steps), result.steps
    deployment = fake.get("Deployment", base_name(model))
    assert version_of(deployment) == "1" and deployment["spec"]["template"]["spec"]["containers"][0]["image"] == \
        DEFAULT_IMAGE
    assert deployment["metadata"]["generation"] == 3  # v1, broken v2, v1 again
    assert rollout_state(deployment)[0] == "done"
    assert alias(client, model) == "1"
    reason = client.get_model_version(model, "2").tags["mlops.deploy.kubernetes.failed"]
    assert "ProgressDeadlineExceeded" in reason
    status = target.status(model, broken)
    assert status.served_version == "1" and status.healthy and status.traffic == {"1": 100}


def test_a_rollout_that_never_gets_ready_times_out_and_is_rolled_back(fake, make_target, registry) -> None:
    model, client = registry(2)
    target = make_target(client)
    assert target.deploy(model, "1", "rolling", model_config(model, "kubernetes", **FAST)).success
    stuck = model_config(model, "kubernetes", **{**FAST, "rollout_timeout": 0.6}, image="example/server:hang")
    result = target.deploy(model, "2", "rolling", stuck)
    assert not result.success and result.served_version == "1"
    assert "timed out after 0.6s" in result.message and "ContainerCreating" in result.message, result.message
    assert version_of(fake.get("Deployment", base_name(model))) == "1"
    assert alias(client, model) == "1"


def test_a_broken_first_deployment_leaves_nothing_behind(fake, make_target, registry) -> None:
    model, client = registry(1)
    result = make_target(client).deploy(model, "1", "rolling", model_config(model, "kubernetes", **FAST,
                                                                             image=BROKEN))
    assert not result.success and result.served_version is None
    assert "nothing serves (nothing did before)" in result.message
    assert fake.names("Deployment") == [] and fake.names("Service") == []
    assert alias(client, model) is None


def test_blue_green_switches_the_selector_only_once_the_new_color_is_ready(fake, make_target, registry) -> None:
    model, client = registry(2)
    config = model_config(model, "kubernetes", "blue_green", **FAST)
    target = make_target(client)
    base = base_name(model)
    assert target.deploy(model, "1", "blue_green", config).success
    assert fake.get("Service", base)["spec"]["selector"]["mlops.slot"] == "blue"

    result = target.deploy(model, "2", "blue_green", config)
    assert result.success and result.served_version == "2", result
    selectors = [(w["object"]["spec"]["selector"]["mlops.slot"], w) for w in fake.writes_of("Service", base)]
    assert [slot for slot, _ in selectors] == ["blue", "green"]
    at_switch = selectors[1][1]["deployments"][f"{base}-green"]
    assert at_switch["observedGeneration"] == at_switch["generation"]
    assert at_switch["availableReplicas"] == at_switch["updatedReplicas"] == at_switch["spec_replicas"] == 3
    assert selectors[1][1]["deployments"][f"{base}-blue"]["availableReplicas"] == 3  # old color still up
    green_ready_at = min(w["time"] for w in fake.writes_of("Deployment", f"{base}-green")) + fake.ready_delay
    assert selectors[1][1]["time"] >= green_ready_at
    blue = fake.get("Deployment", f"{base}-blue")
    assert blue["spec"]["replicas"] == 0 and version_of(blue) == "1"  # kept, scaled down, for a rollback
    assert alias(client, model) == "2"

    back = target.rollback(model, config)
    assert back.success and back.served_version == "1", back
    assert back.steps[0] == "rollback from v2 to v1 (blue_green)"
    assert fake.get("Service", base)["spec"]["selector"]["mlops.slot"] == "blue"
    assert fake.get("Deployment", f"{base}-green")["spec"]["replicas"] == 0
    assert alias(client, model) == "1"


def test_blue_green_with_a_broken_image_never_switches(fake, make_target, registry) -> None:
    model, client = registry(2)
    target = make_target(client)
    base = base_name(model)
    assert target.deploy(model, "1", "blue_green", model_config(model, "kubernetes", "blue_green", **FAST)).success
    result = target.deploy(model, "2", "blue_green",
                           model_config(model, "kubernetes", "blue_green", **FAST, image=BROKEN))
    assert not result.success and result.served_version == "1"
    assert [w["object"]["spec"]["selector"]["mlops.slot"] for w in fake.writes_of("Service", base)] == ["blue"]
    assert fake.names("Deployment") == [f"{base}-blue"]  # the failed green was removed
    blue = fake.get("Deployment", f"{base}-blue")
    assert blue["metadata"]["generation"] == 1 and blue["spec"]["replicas"] == 3
    assert alias(client, model) == "1"


def test_canary_steps_scale_a_canary_behind_the_same_service_then_promote(fake, make_target, registry) -> None:
    model, client = registry(2)
    config = model_config(model, "kubernetes", "canary", canary_steps=[25, 50, 100], **FAST)
    seen: list[tuple[str, int, dict[str, int]]] = []
    target = make_target(client)

    def check(point: CheckPoint) -> bool:
        seen.append((point.stage, point.traffic_percent, target.status(model, config).traffic))
        return True

    target.check = check
    first = target.deploy(model, "1", "canary", config)
    assert first.success and first.steps[0].startswith("nothing serves yet")
    seen.clear()

    result = target.deploy(model, "2", "canary", config)
    assert result.success and result.served_version == "2", result
    base = base_name(model)
    canary = [w["object"]["spec"]["replicas"] for w in fake.writes_of("Deployment", f"{base}-canary")
              if w["verb"] == "APPLY"]
    assert canary == [canary_replicas(3, 25), canary_replicas(3, 50)] == [1, 3]
    assert fake.writes_of("Deployment", f"{base}-canary")[-1]["verb"] == "DELETE"
    assert seen == [("canary 25%", 25, {"1": 75, "2": 25}), ("canary 50%", 50, {"1": 50, "2": 50}),
                    ("promoted", 100, {"2": 100})]
    assert [s.split(":")[0] for s in result.steps if s.startswith("canary")] == ["canary 25%", "canary 50%"]
    stable = fake.get("Deployment", base)
    assert version_of(stable) == "2" and stable["metadata"]["generation"] == 2
    assert fake.get("Service", base)["spec"]["selector"] == {"app": base, "mlops.slot": "main"}
    assert alias(client, model) == "2"


def test_a_failed_canary_check_removes_the_canary_and_leaves_stable_untouched(fake, make_target, registry) -> None:
    model, client = registry(2)
    config = model_config(model, "kubernetes", "canary", canary_steps=[25, 50, 100], **FAST)
    target = make_target(client)
    assert target.deploy(model, "1", "rolling", config).success
    target.check = lambda point: point.stage != "canary 50%"
    result = target.deploy(model, "2", "canary", config)
    assert not result.success and result.served_version == "1"
    assert "check at 'canary 50%' failed" in result.message
    assert_only_the_untouched_stable_v1_is_left(fake, client, model, failed_because="canary 50%")


def test_bad_input_is_refused_before_anything_changes(fake, make_target, registry) -> None:
    model, client = registry(1)
    target = make_target(client)
    with pytest.raises(DeploymentError, match=f"model '{model}' has no version 7"):
        target.deploy(model, "7", "rolling", model_config(model, "kubernetes", **FAST))
    with pytest.raises(DeploymentError, match="deploy.options.hpa: expected {min, max, cpu}"):
        target.deploy(model, "1", "rolling", model_config(model, "kubernetes", hpa={"min": 2}))
    with pytest.raises(DeploymentError, match="unknown deployment strategy 'shadow'"):
        target.deploy(model, "1", "shadow", model_config(model, "kubernetes"))
    with pytest.raises(DeploymentError, match="nothing to roll back to"):
        target.rollback(model, model_config(model, "kubernetes"))
    assert [r for r in fake.requests if r["method"] != "GET"] == []


def test_the_target_goes_through_the_providers_kubernetes_hook(fake, registry, monkeypatch) -> None:
    model, client = registry(1)
    kube_config = {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                   "clusters": [{"name": "fake", "cluster": {"server": fake.url}}],
                   "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
                   "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}]}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(
        {"conn_type": "kubernetes", "extra": {"kube_config": kube_config, "namespace": "models"}}))
    target = get_target("kubernetes", mlflow_client=client, poll_interval=0.02)
    assert isinstance(target, KubernetesTarget)
    assert target.deploy(model, "1", "rolling", model_config(model, "kubernetes", **FAST)).success
    assert fake.names("Deployment", namespace="models") == [base_name(model)]
    assert fake.requests[0]["path"].startswith("/apis/apps/v1/namespaces/models/") or \
        fake.requests[0]["path"].startswith("/api/v1/namespaces/models/")


def test_names_and_canary_sizes() -> None:
    assert base_name("credit_default") == "mlops-credit-default"
    long = base_name("a" * 63)
    assert len(long) <= 50 and long[-7] == "-" and long != base_name("a" * 62)
    assert [canary_replicas(3, p) for p in (10, 25, 50, 75)] == [1, 1, 3, 9]
    assert canary_replicas(10, 10) == 1 and canary_replicas(9, 10) == 1 and canary_replicas(20, 10) == 2


# -- the built-in smoke test through the API server's service proxy -------------------------------------------------

class Upstream:
    """What the pods would answer: a real HTTP server scoring `/v<version>/invocations` with the registered
    sklearn version (as the model server does); versions in `wrong` answer flipped predictions."""

    def __init__(self, model: str, tracking: str, versions: list[str]) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from mlops_provider.config import load_model_config
        from mlops_provider.serving.scoring import as_json_list, parse_payload
        from mlops_provider.tracking import load_version, tracking_uri

        config = load_model_config(model)
        with tracking_uri(tracking):
            models = {v: load_version(model, v) for v in versions}
        self.calls: list[str] = []
        self.wrong: set[str] = set()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                version = self.path.split("/")[1].removeprefix("v")
                upstream.calls.append(version)
                frame = parse_payload(self.rfile.read(int(self.headers["Content-Length"])), config)
                predictions = as_json_list(models[version].predict(frame))
                if version in upstream.wrong:
                    predictions = [1 - p for p in predictions]
                data = json.dumps({"predictions": predictions}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def train_versions(model: str, tracking: str, count: int) -> list[str]:
    """Register `count` versions of `model`: one model trained by its own trainer on its demo data."""
    import mlflow
    import mlflow.sklearn

    from mlops_provider.config import load_callable, load_model_config
    from mlops_provider.data import load_batches
    from mlops_provider.tracking import skops_format, tracking_uri

    config = load_model_config(model)
    train, _, _, _ = load_batches(config)
    fitted = load_callable(config.trainer.callable)(
        train, target=config.target, numeric=list(config.features.numeric),
        categorical=list(config.features.categorical), params=config.trainer.params, seed=config.trainer.seed)
    with tracking_uri(tracking):
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(fitted, name="model", pip_requirements=["scikit-learn"],
                                            **skops_format(fitted))
        return [str(mlflow.register_model(info.model_uri, model).version) for _ in range(count)]


@pytest.fixture
def scored(fake: FakeKubernetes, mlflow_server: str, private_model: Any) -> Iterator[tuple[str, Any, Upstream]]:
    """A private copy of credit_default with two trained versions, and the upstream the fake's proxy reaches."""
    from mlflow import MlflowClient

    model = private_model(f"k8s_smoke_{uuid.uuid4().hex[:6]}")
    assert train_versions(model, mlflow_server, 2) == ["1", "2"]
    upstream = Upstream(model, mlflow_server, ["1", "2"])
    fake.proxy_upstream = upstream.url
    try:
        yield model, MlflowClient(mlflow_server, mlflow_server), upstream
    finally:
        upstream.stop()


def smoke_config(model: str, strategy: str, **options: Any) -> Any:
    from mlops_provider.config import load_model_config

    config = load_model_config(model)
    deploy = config.deploy.model_copy(update={
        "target": "kubernetes", "strategy": strategy, "canary_steps": [50, 100],
        "options": {**FAST, "smoke_test": True, "smoke_rows": 8, "latency_budget_ms": 5000, **options}})
    return config.model_copy(update={"deploy": deploy})


def test_blue_green_smoke_tests_the_new_color_through_the_service_proxy_before_the_switch(
        fake: FakeKubernetes, make_target: Any, scored: tuple[str, Any, Upstream]) -> None:
    model, client, upstream = scored
    config = smoke_config(model, "blue_green")
    target = make_target(client)
    base = base_name(model)
    assert target.deploy(model, "1", "blue_green", config).success
    upstream.calls.clear()
    seen = len(fake.requests)

    result = target.deploy(model, "2", "blue_green", config)
    assert result.success and result.served_version == "2", result
    smoke = [s for s in result.steps if s.startswith("smoke test")]
    assert smoke[0].startswith(f"smoke test of v2 at 'green before the switch' through {base}-green-preview: "
                               "8 predictions equal the model's"), smoke
    assert upstream.calls == ["2"] * 8  # one row per request, all answered by the green pods' version
    requests = fake.requests[seen:]
    proxied = [i for i, r in enumerate(requests) if r["method"] == "POST"]
    assert [requests[i]["path"] for i in proxied] == \
        [f"/api/v1/namespaces/default/services/{base}-green-preview:http/proxy/invocations"] * 8
    switch = next(i for i, r in enumerate(requests) if r["method"] == "PATCH"
                  and r["path"].endswith(f"/services/{base}"))
    assert max(proxied) < switch
    assert fake.names("Service") == [base]  # the preview Service is gone again
    assert fake.get("Service", base)["spec"]["selector"]["mlops.slot"] == "green"


def test_a_canary_whose_predictions_differ_is_rolled_back(fake: FakeKubernetes, make_target: Any,
                                                          scored: tuple[str, Any, Upstream]) -> None:
    model, client, upstream = scored
    config = smoke_config(model, "canary")
    target = make_target(client)
    base = base_name(model)
    assert target.deploy(model, "1", "rolling", config).success
    upstream.wrong.add("2")
    upstream.calls.clear()

    result = target.deploy(model, "2", "canary", config)
    assert not result.success and result.served_version == "1", result
    assert f"smoke test of v2 at 'canary 50%' through {base}-canary-preview: 8 of 8 predictions differ" \
        in result.message, result.message
    assert set(upstream.calls) == {"2"}  # only the canary pods were asked, never the stable ones
    assert fake.names("Service") == [base]
    assert_only_the_untouched_stable_v1_is_left(fake, client, model, failed_because="predictions differ")


def test_smoke_test_options_are_checked_before_anything_changes(fake, make_target, registry) -> None:
    model, client = registry(1)
    target = make_target(client)
    with pytest.raises(DeploymentRefused, match="deploy.options.smoke_test: expected true or false"):
        target.deploy(model, "1", "rolling", model_config(model, "kubernetes", smoke_test="yes"))
    with pytest.raises(DeploymentRefused, match="deploy.options.latency_budget_ms: expected a positive number"):
        target.deploy(model, "1", "rolling", model_config(model, "kubernetes", latency_budget_ms=0))
    with pytest.raises(DeploymentRefused, match="cannot read holdout rows for the smoke test"):
        target.deploy(model, "1", "rolling", model_config(model, "kubernetes", smoke_test=True))
    assert [r for r in fake.requests if r["method"] != "GET"] == []


# -- Istio: the canary's share of the traffic set by VirtualService weights -----------------------------------------

ISTIO_PATH = "/apis/networking.istio.io/v1/namespaces/default/"


def splits(fake: FakeKubernetes, base: str, since: int = 0) -> list[dict[str, int]]:
    return [route_weights(w["object"]) for w in fake.writes_of("VirtualService", base)[since:] if w["object"]]


def test_a_canary_with_istio_sets_the_virtual_service_weights_of_each_step(fake, make_target, registry) -> None:
    model, client = registry(2)
    config = model_config(model, "kubernetes", "canary", canary_steps=[10, 50, 100], **FAST, istio=True)
    target = make_target(client)
    seen: list[tuple[str, int, dict[str, int]]] = []

    def check(point: CheckPoint) -> bool:
        seen.append((point.stage, point.traffic_percent, target.status(model, config).traffic))
        return True

    base, host = base_name(model), f"{base_name(model)}.default.svc.cluster.local"
    first = target.deploy(model, "1", "canary", config)  # nothing serves: a rolling deployment, all to the Service
    assert first.success, first
    assert splits(fake, base) == [{"": 100}] and fake.names("DestinationRule") == []
    vs = fake.get("VirtualService", base)
    assert vs["spec"]["hosts"] == [host] and "gateways" not in vs["spec"]
    assert vs["spec"]["http"][0]["route"] == [{"destination": {"host": host, "port": {"number": 80}}, "weight": 100}]
    target.check = check
    seen.clear()

    result = target.deploy(model, "2", "canary", config)
    assert result.success and result.served_version == "2", result
    # the traffic follows the steps exactly (10%), not the ratio of the pods (1 canary beside 3 stable = 25%)
    assert splits(fake, base, since=1) == [{"stable": 100}, {"stable": 90, "canary": 10},
                                           {"stable": 50, "canary": 50}, {"stable": 100}]
    assert seen == [("canary 10%", 10, {"1": 90, "2": 10}), ("canary 50%", 50, {"1": 50, "2": 50}),
                    ("promoted", 100, {"2": 100})]
    assert any("10% of the traffic by the VirtualService weights" in step for step in result.steps), result.steps

    # every split only names subsets the DestinationRule has at that moment; a canary share only once its pods are
    # ready; all back to stable only once stable serves the new version
    subsets: set[str] = set()
    for write in fake.writes:
        if write["kind"] == "DestinationRule" and write["object"]:
            subsets = {s["name"] for s in write["object"]["spec"]["subsets"]}
            assert write["object"]["spec"]["host"] == host
        if write["kind"] != "VirtualService" or not write["object"]:
            continue
        split = route_weights(write["object"])
        assert set(split) - {""} <= subsets, (split, subsets)
        if split.get("canary"):
            canary = write["deployments"][f"{base}-canary"]
            assert canary["observedGeneration"] == canary["generation"]
            assert canary["availableReplicas"] == canary["updatedReplicas"] == canary["spec_replicas"]
    last = fake.writes_of("VirtualService", base)[-1]
    stable = last["deployments"][base]
    assert stable["version"] == "2" and stable["availableReplicas"] == stable["updatedReplicas"] == 3
    assert fake.get("DestinationRule", base)["spec"]["subsets"] == [{"name": "stable",
                                                                     "labels": {"mlops.track": "stable"}}]
    assert fake.names("Deployment") == [base]
    istio_writes = [r for r in fake.requests if r["path"].startswith(ISTIO_PATH) and r["method"] != "GET"]
    assert istio_writes and all(r["method"] == "PATCH" and r["content_type"] == APPLY
                                and r["query"].get("fieldManager") == "mlops" for r in istio_writes)
    assert {r["path"].removeprefix(ISTIO_PATH) for r in istio_writes} == \
        {f"virtualservices/{base}", f"destinationrules/{base}"}
    assert target.status(model, config).details["virtual_service"] == {"stable": 100}

    # blue-green: all traffic to the Service again before its selector switches, so that switch stays atomic
    seen_writes = len(fake.writes)
    blue_green = model_config(model, "kubernetes", "blue_green", **FAST, istio=True)
    assert target.deploy(model, "1", "blue_green", blue_green).success
    later = [(w["kind"], w["object"]) for w in fake.writes[seen_writes:] if w["kind"] in ("VirtualService", "Service")]
    assert [kind for kind, _ in later] == ["VirtualService", "Service"]
    assert route_weights(later[0][1]) == {"": 100} and later[1][1]["spec"]["selector"]["mlops.slot"] == "blue"


def test_a_failed_canary_with_istio_restores_the_virtual_service(fake, make_target, registry) -> None:
    model, client = registry(3)
    config = model_config(model, "kubernetes", "canary", canary_steps=[10, 50, 100], **FAST,
                          istio={"gateway": "istio-system/public", "hosts": ["credit.example.com"]})
    target = make_target(client)
    base = base_name(model)
    assert target.deploy(model, "1", "rolling", config).success
    assert target.deploy(model, "2", "canary", config).success
    before_vs, before_rule = fake.get("VirtualService", base), fake.get("DestinationRule", base)
    assert route_weights(before_vs) == {"stable": 100}
    assert before_vs["spec"]["gateways"] == ["istio-system/public", "mesh"]
    assert before_vs["spec"]["hosts"] == ["credit.example.com"]

    # a broken image: its pods never get ready, so they never get a share; the VirtualService is restored
    seen = len(fake.writes_of("VirtualService", base))
    broken = model_config(model, "kubernetes", "canary", canary_steps=[10, 50, 100], **FAST, image=BROKEN,
                          istio={"gateway": "istio-system/public", "hosts": ["credit.example.com"]})
    result = target.deploy(model, "3", "canary", broken)
    assert not result.success and result.served_version == "2", result
    assert "ImagePullBackOff" in result.message
    assert "rolled back: VirtualService " + base + " back to stable 100%" in result.steps, result.steps
    assert splits(fake, base, since=seen) == [{"stable": 100}, {"stable": 100}]
    assert fake.get("VirtualService", base)["spec"] == before_vs["spec"]
    assert fake.get("DestinationRule", base)["spec"] == before_rule["spec"]
    assert fake.names("Deployment") == [base] and version_of(fake.get("Deployment", base)) == "2"

    # a check that fails at 50%: the weights had reached 50/50, and go back to all-stable
    seen = len(fake.writes_of("VirtualService", base))
    target.check = lambda point: point.stage != "canary 50%"
    result = target.deploy(model, "3", "canary", config)
    assert not result.success and "check at 'canary 50%' failed" in result.message, result
    assert splits(fake, base, since=seen) == [{"stable": 100}, {"stable": 90, "canary": 10},
                                              {"stable": 50, "canary": 50}, {"stable": 100}]
    assert fake.get("VirtualService", base)["spec"] == before_vs["spec"]
    assert fake.get("DestinationRule", base)["spec"] == before_rule["spec"]
    assert fake.names("Deployment") == [base]
    assert alias(client, model) == "2"


def test_a_failed_canary_with_istio_removes_the_istio_objects_it_created(fake, make_target, registry) -> None:
    model, client = registry(2)
    target = make_target(client)
    base = base_name(model)
    assert target.deploy(model, "1", "rolling", model_config(model, "kubernetes", **FAST)).success
    broken = model_config(model, "kubernetes", "canary", canary_steps=[50, 100], **FAST, image=BROKEN, istio=True)
    result = target.deploy(model, "2", "canary", broken)
    assert not result.success and result.served_version == "1", result
    assert splits(fake, base) == [{"stable": 100}]
    assert fake.writes_of("VirtualService", base)[-1]["verb"] == "DELETE"
    assert fake.names("VirtualService") == [] and fake.names("DestinationRule") == []
    assert fake.names("Deployment") == [base]
    # deleted in the reverse order of their creation: the VirtualService before the subsets it routes to
    order = [(w["verb"], w["kind"]) for w in fake.writes if w["kind"] in ("VirtualService", "DestinationRule")]
    assert order == [("APPLY", "DestinationRule"), ("APPLY", "VirtualService"), ("DELETE", "VirtualService"),
                     ("DELETE", "DestinationRule")]


@pytest.mark.parametrize("istio, why", [
    ("yes", "deploy.options.istio: expected true or a mapping"),
    (1, "deploy.options.istio: expected true or a mapping"),
    ({"host": ""}, "deploy.options.istio.host: expected the Service's host name"),
    ({"host": "a b.svc"}, "deploy.options.istio.host: expected the Service's host name"),
    ({"gateway": 3}, "deploy.options.istio.gateway: expected a host name or a non-empty list"),
    ({"gateway": []}, "deploy.options.istio.gateway: expected a host name or a non-empty list"),
    ({"hosts": ["ok.example.com", ""]}, "deploy.options.istio.hosts: expected a host name or a non-empty list"),
    ({"weights": {"canary": 10}}, r"deploy.options.istio: unknown key\(s\) \['weights'\]"),
])
def test_bad_istio_options_are_refused_before_anything_changes(fake, make_target, registry, istio, why) -> None:
    model, client = registry(1)
    with pytest.raises(DeploymentRefused, match=why):
        make_target(client).deploy(model, "1", "canary", model_config(model, "kubernetes", "canary", **FAST,
                                                                      istio=istio))
    assert [r for r in fake.requests if r["method"] != "GET"] == []


SECRET_ENV = {
    "LOG_LEVEL": "info",
    "MLFLOW_TRACKING_PASSWORD": {"valueFrom": {"secretKeyRef": {"name": "mlflow-credentials", "key": "password"}}},
    "FEATURE_FLAGS": {"valueFrom": {"configMapKeyRef": {"name": "flags", "key": "serving", "optional": True}}},
    "POD_NAME": {"valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
}
SECRET_ENV_FROM = [{"secretRef": {"name": "mlflow-credentials"}},
                   {"configMapRef": {"name": "serving-settings", "optional": True}, "prefix": "APP_"}]


def test_env_references_secrets_and_config_maps_and_the_deployment_holds_no_value(fake, make_target,
                                                                                 registry) -> None:
    model, client = registry(1)
    config = model_config(model, "kubernetes", **FAST, env=SECRET_ENV, env_from=SECRET_ENV_FROM)
    assert make_target(client).deploy(model, "1", "rolling", config).success
    container = fake.get("Deployment", base_name(model))["spec"]["template"]["spec"]["containers"][0]
    env = {entry["name"]: entry for entry in container["env"]}
    assert env["MLFLOW_TRACKING_PASSWORD"] == {"name": "MLFLOW_TRACKING_PASSWORD", "valueFrom": {
        "secretKeyRef": {"name": "mlflow-credentials", "key": "password"}}}
    assert env["FEATURE_FLAGS"]["valueFrom"] == {"configMapKeyRef": {"name": "flags", "key": "serving",
                                                                     "optional": True}}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "info"}
    # as Kubernetes takes them: each entry a name and either a value (a string) or a valueFrom, never both
    assert all(set(entry) in ({"name", "value"}, {"name", "valueFrom"}) for entry in container["env"])
    assert all(isinstance(entry.get("value", ""), str) and "{" not in entry.get("value", "")
               for entry in container["env"])
    assert container["envFrom"] == SECRET_ENV_FROM


@pytest.mark.parametrize("options, key, why", [
    ({"env": {"PASSWORD": {"secretKeyRef": {"name": "s", "key": "k"}}}}, "env.PASSWORD",
     "expected a plain value or {valueFrom: {secretKeyRef: {name, key}}}"),
    ({"env": {"PASSWORD": {"valueFrom": {"secretRef": {"name": "s"}}}}}, "env.PASSWORD.valueFrom",
     "expected one of secretKeyRef, configMapKeyRef, fieldRef"),
    ({"env": {"PASSWORD": {"valueFrom": {"secretKeyRef": {"name": "s"}}}}}, "env.PASSWORD.valueFrom.secretKeyRef",
     "key, name required"),
    ({"env": {"PASSWORD": {"valueFrom": {"secretKeyRef": {"name": "", "key": "k"}}}}},
     "env.PASSWORD.valueFrom.secretKeyRef.name", "expected a non-empty string"),
    ({"env": {"PASSWORD": {"valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": "no"}}}}},
     "env.PASSWORD.valueFrom.secretKeyRef.optional", "expected true or false"),
    ({"env": {"EMPTY": None}}, "env.EMPTY", "expected a plain value"),
    ({"env": ["A=1"]}, "env", "expected a mapping of variable names"),
    ({"env_from": {"secretRef": {"name": "s"}}}, "env_from", "expected a list"),
    ({"env_from": [{"secretKeyRef": {"name": "s", "key": "k"}}]}, "env_from[0]",
     "expected {secretRef: {name}} or {configMapRef: {name}}"),
    ({"env_from": [{"secretRef": {"name": "s"}, "configMapRef": {"name": "c"}}]}, "env_from[0]",
     "expected {secretRef: {name}}"),
    ({"env_from": [{"secretRef": {}}]}, "env_from[0].secretRef", "name required"),
])
def test_a_malformed_env_is_refused_when_the_config_loads_naming_file_and_key(
        tmp_path, monkeypatch, options: dict[str, Any], key: str, why: str) -> None:
    import re

    from mlops_provider.config import load_model_config
    from mlops_provider.exceptions import ConfigError
    from tests.helpers.model_configs import write_credit_copy

    write_credit_copy(tmp_path, "credit_env", deploy={"target": "kubernetes", "options": options})
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path))
    with pytest.raises(ConfigError) as refused:
        load_model_config("credit_env", check_paths=False)
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'credit_env.yaml'}: key 'deploy.options.{key}': "), message
    assert re.search(re.escape(why), message), message
    with pytest.raises(DeploymentRefused, match=re.escape(f"deploy.options.{key}: ")):  # and by the target
        from mlops_provider.deploy.kubernetes.options import KubernetesOptions

        KubernetesOptions.parse("credit_env", options)


def test_a_target_with_plain_env_only_refuses_a_secret_reference_at_load(tmp_path, monkeypatch) -> None:
    from mlops_provider.config import load_model_config
    from mlops_provider.exceptions import ConfigError
    from tests.helpers.model_configs import write_credit_copy

    secret = {"MLFLOW_TRACKING_PASSWORD": SECRET_ENV["MLFLOW_TRACKING_PASSWORD"]}
    write_credit_copy(tmp_path, "credit_sm", deploy={"target": "sagemaker", "options": {"env": secret}})
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"key 'deploy.options.env.MLFLOW_TRACKING_PASSWORD': expected a plain "
                                          r"value \(a string or a number\)"):
        load_model_config("credit_sm", check_paths=False)
