"""The Kubernetes target's deferrable path: `KubernetesRolloutTrigger` through the provider's `AsyncKubernetesHook`, and
`begin` -> trigger -> `resume` loops, against the fake API server (tests/fake_k8s.py) and the real
MLflow test server. Every wait runs the real trigger on a real event loop; every resume gets the state back from
JSON, on a fresh target, as a worker would after the triggerer fired."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_provider.deploy import DeferrableTarget, DeploymentResult, Pending
from mlops_provider.deploy.kubernetes import (
    DEFAULT_IMAGE,
    ROLLOUT_TRIGGER,
    CheckPoint,
    Cluster,
    KubernetesOptions,
    KubernetesTarget,
    base_name,
    render_deployment,
    rollout_state,
)
from mlops_provider.exceptions import DeploymentError, DeploymentRefused
from mlops_provider.triggers.kubernetes import KubernetesRolloutTrigger
from tests.helpers.deploy_registry import model_config, register_versions, served_on
from tests.helpers.fake_k8s import FakeKubernetes, version_of

alias = served_on("kubernetes")

NAMESPACE = "models"
CONN_ID = "fake_k8s"
FAST = {"rollout_timeout": 5, "step_wait": 0, "replicas": 3}
BROKEN = "registry.example/mlops-model-server:broken"


def kube_config(url: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": url}}],
            "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}]}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubernetes]:
    """The fake API server, reachable as the Airflow connection `fake_k8s` (namespace `models`)."""
    server = FakeKubernetes(ready_delay=0.3)
    url = server.start()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(
        {"conn_type": "kubernetes", "extra": {"kube_config": kube_config(url), "namespace": NAMESPACE}}))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def registry(mlflow_server: str) -> Any:
    def make(count: int = 2) -> tuple[str, Any]:
        return register_versions(mlflow_server, "k8sd", count)

    return make


def target(client: Any, check: Any = None) -> KubernetesTarget:
    """A fresh target (nothing in memory from an earlier call), going through the connection for everything."""
    return KubernetesTarget(kubernetes_conn_id=CONN_ID, mlflow_client=client, check=check, poll_interval=0.02)


def first_event(trigger: KubernetesRolloutTrigger) -> dict[str, Any]:
    """Run the trigger rebuilt from its serialized form, as the triggerer does; the payload of its one event."""
    classpath, kwargs = trigger.serialize()
    assert classpath == ROLLOUT_TRIGGER
    rebuilt = KubernetesRolloutTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)

    async def run() -> list[dict[str, Any]]:
        return [event.payload async for event in rebuilt.run()]

    events = asyncio.run(run())
    assert len(events) == 1, events
    return events[0]


def deploy_deferred(client: Any, model: str, version: str, strategy: str, config: Any,
                    check: Any = None) -> tuple[DeploymentResult, list[Pending], list[dict[str, Any]]]:
    """begin -> (trigger -> resume)* until a result, with the state passed through JSON each time."""
    outcome = target(client, check).begin(model, version, strategy, config)
    pendings, events = [], []
    while isinstance(outcome, Pending):
        pendings.append(outcome)
        module, _, name = outcome.trigger.rpartition(".")
        assert (module, name) == ("mlops_provider.triggers.kubernetes", "KubernetesRolloutTrigger")
        events.append(first_event(KubernetesRolloutTrigger(**outcome.trigger_kwargs)))
        state = json.loads(json.dumps(outcome.state))
        outcome = target(client, check).resume(state, events[-1], config)
    return outcome, pendings, events


def apply_deployment(fake: FakeKubernetes, name: str, image: str) -> None:
    """A Deployment of the fake model, applied the way the target applies it."""
    from kubernetes import client

    api = client.ApiClient(client.Configuration(host=fake.url))
    try:
        options = KubernetesOptions(image=image, replicas=2)
        Cluster(api, NAMESPACE).apply(render_deployment("fake", "1", options, name=name, track="stable",
                                                         slot="main", replicas=2, namespace=NAMESPACE))
    finally:
        api.close()


def rollout_trigger(name: str, *, seconds: float = 5, **kwargs: Any) -> KubernetesRolloutTrigger:
    deadline = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()
    return KubernetesRolloutTrigger(deployment=name, namespace=NAMESPACE, deadline=deadline, timeout=seconds,
                          poll_interval=0.02, kubernetes_conn_id=CONN_ID, **kwargs)


# -- the trigger ----------------------------------------------------------------------------------------------------

def test_the_trigger_fires_done_only_once_the_rollout_is_complete(fake: FakeKubernetes) -> None:
    import airflow.providers.cncf.kubernetes.hooks.kubernetes  # noqa: F401 - imported before the clock starts

    fake.ready_delay = 1.0
    apply_deployment(fake, "ok", "example/server:1")
    began = time.monotonic()
    event = first_event(rollout_trigger("ok"))
    assert time.monotonic() - began >= fake.ready_delay * 0.9
    assert event["status"] == "done" and event["deployment"] == "ok", event
    assert "2 of 2 replicas updated and available" in event["message"]
    assert rollout_state(fake.get("Deployment", "ok", NAMESPACE))[0] == "done"
    polls = [r for r in fake.requests if r["method"] == "GET"
             and r["path"] == f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/ok"]
    assert len(polls) >= 2  # it looked while the rollout progressed, and again once it was done


@pytest.mark.parametrize(("image", "reason"), [(BROKEN, "ImagePullBackOff"), ("example/server:crash",
                                                                               "CrashLoopBackOff")])
def test_a_failed_rollout_fires_failed_with_the_pods_reasons(fake: FakeKubernetes, image: str, reason: str) -> None:
    apply_deployment(fake, "bad", image)
    event = first_event(rollout_trigger("bad"))
    assert event["status"] == "failed" and event["deployment"] == "bad", event
    assert event["message"].startswith("rollout of bad failed: ProgressDeadlineExceeded"), event
    assert "pod bad-" in event["message"] and reason in event["message"], event
    pod_lists = [r for r in fake.requests if r["path"] == f"/api/v1/namespaces/{NAMESPACE}/pods"]
    assert pod_lists and "mlops.version=1" in pod_lists[0]["query"]["labelSelector"]


def test_a_rollout_that_hangs_times_out_at_the_absolute_deadline(fake: FakeKubernetes) -> None:
    apply_deployment(fake, "stuck", "example/server:hang")
    began = time.monotonic()
    event = first_event(rollout_trigger("stuck", seconds=0.6))
    took = time.monotonic() - began
    assert event["status"] == "failed", event
    assert "timed out after 0.6s" in event["message"] and "ContainerCreating" in event["message"], event
    assert 0.5 <= took < 3, took
    # a triggerer restarted after the deadline looks once and does not start a new timeout
    restarted = KubernetesRolloutTrigger(deployment="stuck", namespace=NAMESPACE, timeout=0.6, poll_interval=0.02,
                               deadline=(datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
                               kubernetes_conn_id=CONN_ID)
    began = time.monotonic()
    assert first_event(restarted)["status"] == "failed"
    assert time.monotonic() - began < 0.5


def test_the_bake_delay_comes_before_the_first_look(fake: FakeKubernetes) -> None:
    apply_deployment(fake, "ok", "example/server:1")
    time.sleep(fake.ready_delay + 0.1)
    seen = len(fake.requests)
    began = time.monotonic()
    event = first_event(rollout_trigger("ok", delay=0.5))
    assert event["status"] == "done" and time.monotonic() - began >= 0.5
    assert len([r for r in fake.requests[seen:] if "/deployments/ok" in r["path"]]) == 1


def test_a_missing_deployment_or_an_unreachable_server_fires_failed(fake: FakeKubernetes,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    event = first_event(rollout_trigger("nowhere"))
    assert event == {"status": "failed", "deployment": "nowhere",
                     "message": "deployment nowhere disappeared during the rollout"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(
        {"conn_type": "kubernetes", "extra": {"kube_config": kube_config("http://127.0.0.1:9")}}))
    event = first_event(rollout_trigger("nowhere"))
    assert event["status"] == "failed" and event["message"].startswith("could not follow the rollout of nowhere")


def test_the_trigger_reads_a_given_kube_config_file(fake: FakeKubernetes, tmp_path: Any) -> None:
    apply_deployment(fake, "ok", "example/server:1")
    path = tmp_path / "config"
    path.write_text(json.dumps(kube_config(fake.url)))
    trigger = KubernetesRolloutTrigger(deployment="ok", namespace=NAMESPACE, timeout=5, poll_interval=0.02,
                             deadline=(datetime.now(UTC) + timedelta(seconds=5)).isoformat(),
                             kubernetes_conn_id="kubernetes_default", config_file=str(path))
    assert first_event(trigger)["status"] == "done"


# -- begin / resume -------------------------------------------------------------------------------------------------

def test_a_rolling_deployment_defers_each_wait_and_resumes_from_json_state(fake: FakeKubernetes,
                                                                           registry: Any) -> None:
    model, client = registry(2)
    config = model_config(model, "kubernetes", **FAST)
    base = base_name(model)
    assert isinstance(target(client), DeferrableTarget)

    first, pendings, events = deploy_deferred(client, model, "1", "rolling", config)
    assert first.success and first.served_version == "1", first
    assert len(pendings) == 1 and events[0]["status"] == "done"
    kwargs = pendings[0].trigger_kwargs
    assert (kwargs["deployment"], kwargs["namespace"], kwargs["kubernetes_conn_id"]) == (base, NAMESPACE, CONN_ID)
    assert 3 < (datetime.fromisoformat(kwargs["deadline"]) - datetime.now(UTC)).total_seconds() <= 5
    assert pendings[0].steps == [f"applied {base}: v1, 3 replica(s), image {DEFAULT_IMAGE}"]
    assert pendings[0].state["phase"] == 1 and pendings[0].state["before"]["active"] is None

    result, pendings, _ = deploy_deferred(client, model, "2", "rolling", config)
    assert result.success and result.served_version == "2" and result.previous_version == "1", result
    assert len(pendings) == 1
    assert pendings[0].state["before"]["active"]["metadata"]["name"] == base  # the snapshot of what served
    assert [u["op"] for u in pendings[0].state["undo"]] == ["apply"]  # restore v1, as data
    deployment = fake.get("Deployment", base, NAMESPACE)
    assert version_of(deployment) == "2" and deployment["metadata"]["generation"] == 2
    assert rollout_state(deployment)[0] == "done"
    assert alias(client, model) == "2"
    assert client.get_registered_model(model).tags["mlops.deploy.kubernetes.previous"] == "1"

    again = target(client).begin(model, "2", "rolling", config)
    assert isinstance(again, DeploymentResult) and again.success and "nothing to do" in again.message


def test_blue_green_deferred_switches_only_once_the_new_color_is_ready(fake: FakeKubernetes, registry: Any) -> None:
    model, client = registry(2)
    config = model_config(model, "kubernetes", "blue_green", **FAST)
    base = base_name(model)
    assert deploy_deferred(client, model, "1", "blue_green", config)[0].success
    result, pendings, _ = deploy_deferred(client, model, "2", "blue_green", config)
    assert result.success and result.served_version == "2", result
    assert [p.trigger_kwargs["deployment"] for p in pendings] == [f"{base}-green"]
    services = [w for w in fake.writes_of("Service", base)]
    assert [w["object"]["spec"]["selector"]["mlops.slot"] for w in services] == ["blue", "green"]
    green = services[1]["deployments"][f"{base}-green"]
    assert green["availableReplicas"] == green["updatedReplicas"] == green["spec_replicas"] == 3
    assert fake.get("Deployment", f"{base}-blue", NAMESPACE)["spec"]["replicas"] == 0
    assert alias(client, model) == "2"


def test_canary_deferred_waits_and_bakes_each_step_then_promotes(fake: FakeKubernetes, registry: Any) -> None:
    model, client = registry(2)
    config = model_config(model, "kubernetes", "canary", canary_steps=[25, 50, 100], **{**FAST, "step_wait": 0.3})
    base = base_name(model)
    assert deploy_deferred(client, model, "1", "canary", config)[0].success
    seen: list[tuple[str, int]] = []

    def check(point: CheckPoint) -> bool:
        seen.append((point.stage, point.traffic_percent))
        return True

    result, pendings, events = deploy_deferred(client, model, "2", "canary", config, check=check)
    assert result.success and result.served_version == "2", result
    waits = [(p.trigger_kwargs["deployment"], p.trigger_kwargs["delay"]) for p in pendings]
    assert waits == [(f"{base}-canary", 0), (f"{base}-canary", 0.3), (f"{base}-canary", 0), (f"{base}-canary", 0.3),
                     (base, 0)]
    assert [e["status"] for e in events] == ["done"] * 5
    assert seen == [("canary 25%", 25), ("canary 50%", 50), ("promoted", 100)]
    canary = [w["object"]["spec"]["replicas"] for w in fake.writes_of("Deployment", f"{base}-canary")
              if w["verb"] == "APPLY"]
    assert canary == [1, 3] and fake.writes_of("Deployment", f"{base}-canary")[-1]["verb"] == "DELETE"
    assert fake.names("Deployment", NAMESPACE) == [base]
    assert version_of(fake.get("Deployment", base, NAMESPACE)) == "2"
    assert alias(client, model) == "2"


@pytest.mark.parametrize("strategy", ["rolling", "blue_green", "canary"])
def test_a_broken_image_deferred_is_rolled_back_and_the_previous_version_keeps_serving(
        fake: FakeKubernetes, registry: Any, strategy: str) -> None:
    model, client = registry(2)
    base = base_name(model)
    good = model_config(model, "kubernetes", strategy, canary_steps=[50, 100], **FAST)
    assert deploy_deferred(client, model, "1", strategy, good)[0].success
    service_before = fake.get("Service", base, NAMESPACE)["spec"]["selector"]
    stable_before = {name: fake.get("Deployment", name, NAMESPACE)["metadata"]["generation"]
                     for name in fake.names("Deployment", NAMESPACE)}

    broken = model_config(model, "kubernetes", strategy, canary_steps=[50, 100], **FAST, image=BROKEN)
    result, pendings, events = deploy_deferred(client, model, "2", strategy, broken)
    assert not result.success and result.served_version == "1" and result.previous_version == "1", result
    assert events[0]["status"] == "failed"
    assert "ProgressDeadlineExceeded" in result.message and "ImagePullBackOff" in result.message, result.message
    assert "v1 still serves" in result.message
    assert fake.get("Service", base, NAMESPACE)["spec"]["selector"] == service_before
    assert alias(client, model) == "1"
    assert "ImagePullBackOff" in client.get_model_version(model, "2").tags["mlops.deploy.kubernetes.failed"]
    if strategy == "rolling":  # restoring v1 in place is itself a rollout, and waited for in the triggerer too
        assert len(pendings) == 2 and pendings[1].state["failure"] == events[0]["message"]
        assert pendings[1].state["waiting"]["undo"] == "restore " + base + " to v1"
        assert events[1]["status"] == "done"
        deployment = fake.get("Deployment", base, NAMESPACE)
        assert version_of(deployment) == "1" and deployment["metadata"]["generation"] == 3
        assert rollout_state(deployment)[0] == "done"
        assert "rolled back: restore " + base + " to v1" in result.steps
    else:  # the new color or the canary is deleted; what served was never touched
        assert len(pendings) == 1
        assert fake.names("Deployment", NAMESPACE) == sorted(stable_before)
        assert {name: fake.get("Deployment", name, NAMESPACE)["metadata"]["generation"]
                for name in fake.names("Deployment", NAMESPACE)} == stable_before
    assert target(client).status(model, broken).traffic == {"1": 100}


def test_the_blocking_deploy_and_the_deferred_one_take_the_same_steps(fake: FakeKubernetes, registry: Any) -> None:
    model, client = registry(2)
    config = model_config(model, "kubernetes", "blue_green", **FAST)
    blocking = [target(client).deploy(model, v, "blue_green", config) for v in ("1", "2")]
    model2, client2 = registry(2)
    config2 = model_config(model2, "kubernetes", "blue_green", **FAST)
    deferred = [deploy_deferred(client2, model2, v, "blue_green", config2)[0] for v in ("1", "2")]
    assert [r.success for r in blocking] == [r.success for r in deferred] == [True, True]
    assert [[s.replace(model, "M").replace(model.replace("_", "-"), "M") for s in r.steps] for r in blocking] == \
        [[s.replace(model2, "M").replace(model2.replace("_", "-"), "M") for s in r.steps] for r in deferred]


def test_bad_input_is_refused_before_anything_changes(fake: FakeKubernetes, registry: Any) -> None:
    model, client = registry(1)
    with pytest.raises(DeploymentRefused, match="deploy.options.hpa: expected {min, max, cpu}"):
        target(client).begin(model, "1", "rolling", model_config(model, "kubernetes", hpa={"min": 2}))
    with pytest.raises(DeploymentRefused, match="deploy.options.replicas: expected an integer of at least 1"):
        target(client).begin(model, "1", "rolling", model_config(model, "kubernetes", replicas=0))
    with pytest.raises(DeploymentRefused, match="unknown deployment strategy 'shadow'"):
        target(client).begin(model, "1", "shadow", model_config(model, "kubernetes"))
    with pytest.raises(DeploymentRefused, match=f"model '{model}' has no version 9"):
        target(client).begin(model, "9", "rolling", model_config(model, "kubernetes"))
    assert [r for r in fake.requests if r["method"] != "GET"] == []
    with pytest.raises(DeploymentError, match="the saved rollout state is for model 'other'"):
        pending = target(client).begin(model, "1", "rolling", model_config(model, "kubernetes", **FAST))
        assert isinstance(pending, Pending)
        target(client).resume({**pending.state, "model": "other"}, {"status": "done"},
                              model_config(model, "kubernetes", **FAST))
