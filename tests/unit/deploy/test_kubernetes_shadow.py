"""A shadow version on the fake Kubernetes API server: an Istio mirror to `<base>-shadow` where the model's options
configure Istio, the model server mirroring itself where they do not; stopping undoes both."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mlops_provider.deploy.kubernetes.cluster import Cluster
from mlops_provider.deploy.kubernetes.manifests import (
    MAIN_SLOT,
    render_deployment,
    render_service,
    render_virtual_service,
)
from mlops_provider.deploy.kubernetes.options import KubernetesOptions
from mlops_provider.deploy.kubernetes.shadow import shadowed_version, start_shadow, stop_shadow
from mlops_provider.exceptions import DeploymentError
from tests.helpers.fake_k8s import FakeKubernetes, fake_cluster

MODEL = "credit_default"


@pytest.fixture
def cluster() -> Iterator[tuple[FakeKubernetes, Cluster]]:
    with fake_cluster(ready_delay=0.0) as (fake, api):
        yield fake, Cluster(api, "default")


def options(**extra: Any) -> KubernetesOptions:
    return KubernetesOptions.parse(MODEL, {"image": "mlops:1", **extra})


def serve_v1(cluster: Cluster, opts: KubernetesOptions) -> None:
    """What a rollout leaves: the stable Deployment of v1, the Service on the main slot, Istio's route if set."""
    cluster.apply(render_deployment(MODEL, "1", opts, name="mlops-credit-default", track="stable", slot=MAIN_SLOT,
                                    replicas=2, namespace="default"))
    cluster.apply(render_service(MODEL, opts, slot=MAIN_SLOT, namespace="default"))
    if opts.istio is not None:
        cluster.apply(render_virtual_service(MODEL, opts, namespace="default", weights=None))


def test_with_istio_the_virtual_service_mirrors_to_the_shadow_service(cluster: tuple[FakeKubernetes, Cluster]) -> None:
    fake, api = cluster
    opts = options(istio=True)
    serve_v1(api, opts)
    steps = start_shadow(api, MODEL, "2", opts, percent=50)
    assert len(steps) == 3

    route = fake.get("VirtualService", "mlops-credit-default")["spec"]["http"][0]
    assert route["mirror"] == {"host": "mlops-credit-default-shadow.default.svc.cluster.local",
                               "port": {"number": opts.service_port}}
    assert route["mirrorPercentage"] == {"value": 50.0}
    assert route["route"][0]["weight"] == 100  # the live split is untouched
    shadow = fake.get("Deployment", "mlops-credit-default-shadow")
    pod = shadow["spec"]["template"]
    assert pod["metadata"]["labels"]["mlops.slot"] == "shadow" and pod["metadata"]["labels"]["mlops.version"] == "2"
    assert pod["spec"]["containers"][0]["command"][-1] == "--shadow-log"
    service = fake.get("Service", "mlops-credit-default-shadow")
    assert service["spec"]["selector"] == {"app": "mlops-credit-default", "mlops.slot": "shadow"}
    main = fake.get("Service", "mlops-credit-default")
    assert main["spec"]["selector"]["mlops.slot"] == MAIN_SLOT  # the live Service never selects the shadow pod
    assert shadowed_version(api, MODEL, opts) == "2"

    stop_shadow(api, MODEL, opts)
    route = fake.get("VirtualService", "mlops-credit-default")["spec"]["http"][0]
    assert "mirror" not in route and "mirrorPercentage" not in route
    assert fake.get("Deployment", "mlops-credit-default-shadow") is None
    assert fake.get("Service", "mlops-credit-default-shadow") is None
    assert shadowed_version(api, MODEL, opts) is None


def test_without_istio_the_serving_pods_mirror_themselves(cluster: tuple[FakeKubernetes, Cluster]) -> None:
    fake, api = cluster
    opts = options()
    serve_v1(api, opts)
    start_shadow(api, MODEL, "2", opts)
    command = fake.get("Deployment", "mlops-credit-default")["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[-2:] == ["--shadow", "2"] and command[:5] == ["mlops", "serve", MODEL, "--version", "1"]
    assert fake.get("Deployment", "mlops-credit-default-shadow") is None
    assert shadowed_version(api, MODEL, opts) == "2"
    start_shadow(api, MODEL, "3", opts)  # another shadow replaces the flag, never adds a second one
    command = fake.get("Deployment", "mlops-credit-default")["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command.count("--shadow") == 1 and command[-1] == "3"
    stop_shadow(api, MODEL, opts)
    command = fake.get("Deployment", "mlops-credit-default")["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--shadow" not in command and shadowed_version(api, MODEL, opts) is None


def test_a_shadow_needs_a_deployed_model_and_another_version(cluster: tuple[FakeKubernetes, Cluster]) -> None:
    _, api = cluster
    with pytest.raises(DeploymentError, match="VirtualService mlops-credit-default not found"):
        start_shadow(api, MODEL, "2", options(istio=True))
    with pytest.raises(DeploymentError, match="no Deployment serves it"):
        start_shadow(api, MODEL, "2", options())
    serve_v1(api, options())
    with pytest.raises(DeploymentError, match="v1 is the version serving"):
        start_shadow(api, MODEL, "1", options())
    with pytest.raises(DeploymentError, match="percent"):
        start_shadow(api, MODEL, "2", options(), percent=0)
