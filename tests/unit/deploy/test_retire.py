"""What archiving and retiring remove from Kubernetes (on the fake API server) and SageMaker (botocore's Stubber):
a version's objects unless they serve, and every object of a retired model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mlops_provider.deploy.kubernetes.cluster import Cluster
from mlops_provider.deploy.kubernetes.manifests import (
    base_name,
    render_deployment,
    render_destination_rule,
    render_hpa,
    render_preview_service,
    render_service,
    render_virtual_service,
)
from mlops_provider.deploy.kubernetes.options import KubernetesOptions
from mlops_provider.deploy.kubernetes.retire import remove_kubernetes_model, remove_kubernetes_version
from mlops_provider.deploy.sagemaker_retire import remove_sagemaker_model, remove_sagemaker_version
from tests.helpers.fake_k8s import FakeKubernetes, fake_cluster
from tests.helpers.sagemaker_stub import endpoint, stubbed_client

MODEL = "credit_old"
OTHER = "credit_new"


@pytest.fixture
def cluster() -> Iterator[tuple[FakeKubernetes, Cluster]]:
    with fake_cluster(ready_delay=0.01) as (fake, api):
        yield fake, Cluster(api, "default")


def blue_green(cluster: Cluster, model: str, *, blue: str, green: str, serving: str) -> None:
    """Deployments `<base>-blue` (v`blue`) and `<base>-green` (v`green`), the Service on slot `serving`, a preview
    Service per color, an autoscaler and Istio's route and rule."""
    options = KubernetesOptions.parse(model, {"image": "registry.local/mlops:1", "hpa": {"min": 1, "max": 2,
                                                                                          "cpu": 70}, "istio": True})
    base = base_name(model)
    for color, version in (("blue", blue), ("green", green)):
        cluster.apply(render_deployment(model, version, options, name=f"{base}-{color}", track=color, slot=color,
                                        replicas=1, namespace="default"))
        cluster.apply(render_preview_service(model, options, track=color, namespace="default"))
    cluster.apply(render_service(model, options, slot=serving, namespace="default"))
    cluster.apply(render_hpa(model, options, deployment=f"{base}-{serving}", namespace="default"))
    cluster.apply(render_destination_rule(model, options, namespace="default",
                                          subsets={"stable": serving}))
    cluster.apply(render_virtual_service(model, options, namespace="default", weights=None))


def test_a_version_loses_its_deployment_and_preview_but_never_what_the_service_selects(cluster) -> None:
    fake, api = cluster
    blue_green(api, MODEL, blue="1", green="2", serving="green")
    blue_green(api, OTHER, blue="1", green="3", serving="blue")
    base, other = base_name(MODEL), base_name(OTHER)

    done = remove_kubernetes_version(api, MODEL, "1")
    assert done == [f"kubernetes: deleted Deployment default/{base}-blue (v1)",
                    f"kubernetes: deleted preview Service default/{base}-blue-preview"]
    assert fake.names("Deployment") == sorted([f"{base}-green", f"{other}-blue", f"{other}-green"])
    assert f"{other}-blue-preview" in fake.names("Service")  # another model's v1 is not this model's

    assert remove_kubernetes_version(api, MODEL, "1") == []  # twice: nothing more
    assert remove_kubernetes_version(api, MODEL, "2") == [
        f"kubernetes: Deployment default/{base}-green runs v2 and the Service selects it; left"]
    assert f"{base}-green" in fake.names("Deployment")


def test_a_retired_model_loses_every_object_and_other_models_keep_theirs(cluster) -> None:
    fake, api = cluster
    blue_green(api, MODEL, blue="1", green="2", serving="green")
    blue_green(api, OTHER, blue="1", green="3", serving="blue")
    base, other = base_name(MODEL), base_name(OTHER)

    done = remove_kubernetes_model(api, MODEL)
    assert {line.split(" default/")[0] for line in done} == {
        "kubernetes: deleted Deployment", "kubernetes: deleted HorizontalPodAutoscaler", "kubernetes: deleted Service",
        "kubernetes: deleted VirtualService", "kubernetes: deleted DestinationRule"}
    assert len(done) == 8  # 2 Deployments, 1 autoscaler, 3 Services, the route and the rule
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "VirtualService", "DestinationRule"):
        assert all(not name.startswith(f"{base}") or name.startswith(other) for name in fake.names(kind)), kind
    assert fake.names("Deployment") == [f"{other}-blue", f"{other}-green"]
    assert remove_kubernetes_model(api, MODEL) == []


def configs_page(*names: str) -> dict[str, Any]:
    from tests.helpers.sagemaker_stub import NOW

    return {"EndpointConfigs": [{"EndpointConfigName": n, "EndpointConfigArn": f"arn:aws:sagemaker:us-east-1:1:"
                                 f"endpoint-config/{n}", "CreationTime": NOW} for n in names]}


def models_page(*names: str) -> dict[str, Any]:
    from tests.helpers.sagemaker_stub import NOW

    return {"Models": [{"ModelName": n, "ModelArn": f"arn:aws:sagemaker:us-east-1:1:model/{n}",
                        "CreationTime": NOW} for n in names]}


def variants(model_name: str) -> dict[str, Any]:
    from tests.helpers.sagemaker_stub import NOW

    return {"EndpointConfigName": "x", "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:1:endpoint-config/x",
            "CreationTime": NOW, "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": model_name}]}


def test_a_version_loses_its_endpoint_configs_and_models_unless_the_endpoint_uses_them() -> None:
    client, stub = stubbed_client()
    name = "mlops-credit-old"
    old_config, old_config_2, old_model = f"{name}-v1-aaaaaaaa", f"{name}-v1-bbbbbbbb", f"{name}-v1-cccccc"
    # v1 serves through its first endpoint config (a record lagging behind): that config and its model stay
    stub.add_response("describe_endpoint", endpoint(name, old_config, "InService"), {"EndpointName": name})
    stub.add_response("describe_endpoint_config", variants(old_model), {"EndpointConfigName": old_config})
    # NameContains also finds model credit_old_v1's objects (`mlops-credit-old-v1-v1-...`): never removed
    stub.add_response("list_endpoint_configs", configs_page(old_config, old_config_2, f"{name}-v1-dddddddd",
                                                            f"{name}-v1-v1-aaaaaaaa"), {"NameContains": f"{name}-v1-"})
    stub.add_response("list_models", models_page(old_model, f"{name}-v1-eeeeee", f"{name}-v1-v1-ffffff"),
                      {"NameContains": f"{name}-v1-"})
    stub.add_response("delete_endpoint_config", {}, {"EndpointConfigName": old_config_2})
    stub.add_response("delete_endpoint_config", {}, {"EndpointConfigName": f"{name}-v1-dddddddd"})
    stub.add_response("delete_model", {}, {"ModelName": f"{name}-v1-eeeeee"})
    with stub:
        done = remove_sagemaker_version(client, "credit_old", "1", name)
        stub.assert_no_pending_responses()
    assert done == [f"sagemaker: endpoint {name} uses endpoint config {old_config}; left",
                    f"sagemaker: deleted endpoint config {old_config_2}",
                    f"sagemaker: deleted endpoint config {name}-v1-dddddddd",
                    f"sagemaker: endpoint {name} uses model {old_model}; left",
                    f"sagemaker: deleted model {name}-v1-eeeeee"]


def test_a_version_of_a_model_without_an_endpoint_loses_all_its_objects() -> None:
    client, stub = stubbed_client()
    name = "mlops-credit-old"
    stub.add_client_error("describe_endpoint", "ValidationException", "Could not find endpoint mlops-credit-old.")
    stub.add_response("list_endpoint_configs", configs_page(f"{name}-v2-aaaaaaaa"), {"NameContains": f"{name}-v2-"})
    stub.add_response("list_models", models_page(), {"NameContains": f"{name}-v2-"})
    stub.add_response("delete_endpoint_config", {}, {"EndpointConfigName": f"{name}-v2-aaaaaaaa"})
    with stub:
        assert remove_sagemaker_version(client, "credit_old", "2", name) == [
            f"sagemaker: deleted endpoint config {name}-v2-aaaaaaaa"]
        stub.assert_no_pending_responses()


def test_a_retired_model_loses_its_endpoint_then_every_config_and_model() -> None:
    client, stub = stubbed_client()
    name = "mlops-credit-old"
    stub.add_response("describe_endpoint", endpoint(name, f"{name}-v2-aaaaaaaa", "InService"), {"EndpointName": name})
    stub.add_response("delete_endpoint", {}, {"EndpointName": name})
    stub.add_response("list_endpoint_configs", configs_page(f"{name}-v1-aaaaaaaa"), {"NameContains": f"{name}-v1-"})
    stub.add_response("list_models", models_page(), {"NameContains": f"{name}-v1-"})
    stub.add_response("delete_endpoint_config", {}, {"EndpointConfigName": f"{name}-v1-aaaaaaaa"})
    # the endpoint is being deleted: its own config and model go too
    stub.add_response("list_endpoint_configs", configs_page(f"{name}-v2-aaaaaaaa"), {"NameContains": f"{name}-v2-"})
    stub.add_response("list_models", models_page(f"{name}-v2-cccccc"), {"NameContains": f"{name}-v2-"})
    stub.add_response("delete_endpoint_config", {}, {"EndpointConfigName": f"{name}-v2-aaaaaaaa"})
    stub.add_response("delete_model", {}, {"ModelName": f"{name}-v2-cccccc"})
    with stub:
        done = remove_sagemaker_model(client, "credit_old", name, ["1", "2"])
        stub.assert_no_pending_responses()
    assert done[0] == f"sagemaker: deleted endpoint {name}" and len(done) == 4
