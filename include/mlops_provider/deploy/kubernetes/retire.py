"""What archiving and retiring remove from Kubernetes: the Deployments (and preview Services) of one version
that the Service no longer selects, or every object of the model (Deployments, Services, autoscaler, Istio
route and rule). Objects are found by the labels the target puts on them (`manifests.common_labels`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_provider.deploy.kubernetes.cluster import read_serving
from mlops_provider.deploy.kubernetes.manifests import base_name, preview_name, track_of

if TYPE_CHECKING:
    from mlops_provider.deploy.kubernetes.cluster import Cluster

MODEL_KINDS = ("Deployment", "HorizontalPodAutoscaler", "Service")
ISTIO_KINDS = ("VirtualService", "DestinationRule")


def remove_kubernetes_version(cluster: Cluster, model: str, version: str) -> list[str]:
    """Delete the Deployments whose pods run `version` and their preview Services, except the Deployment the
    Service selects (it serves: left, and said). Returns what was done, one line each."""
    serving = read_serving(cluster, model)
    done = []
    for deployment in cluster.find("Deployment", {"mlops.model": model}):
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
        if str(labels.get("mlops.version")) != str(version):
            continue
        where = f"{cluster.namespace}/{name}"
        if name == serving.active_name:
            done.append(f"kubernetes: Deployment {where} runs v{version} and the Service selects it; left")
            continue
        if cluster.delete("Deployment", name):
            done.append(f"kubernetes: deleted Deployment {where} (v{version})")
        preview = preview_name(serving.base, track_of(serving.base, name))
        if cluster.delete("Service", preview):
            done.append(f"kubernetes: deleted preview Service {cluster.namespace}/{preview}")
    return done


def remove_kubernetes_model(cluster: Cluster, model: str) -> list[str]:
    """Delete every object of the model: Deployments, the autoscaler, Services, Istio's route and rule."""
    done = []
    for kind in MODEL_KINDS:
        for found in cluster.find(kind, {"mlops.model": model}):
            name = found["metadata"]["name"]
            if cluster.delete(kind, name):
                done.append(f"kubernetes: deleted {kind} {cluster.namespace}/{name}")
    for kind in ISTIO_KINDS:
        name = base_name(model)
        try:
            exists = cluster.get(kind, name) is not None
        except Exception as err:  # a cluster without Istio's CRDs answers 404 for the whole kind
            if getattr(err, "status", None) != 404:
                raise
            exists = False
        if exists and cluster.delete(kind, name):
            done.append(f"kubernetes: deleted {kind} {cluster.namespace}/{name}")
    return done
