"""What archiving and retiring remove from SageMaker: a version's endpoint configs and models (every one named
`mlops-<model>-v<version>-<hex>`, whatever options made them) unless the endpoint uses them, or the model's endpoint
and all its versions' endpoint configs and models. S3 model data is left (it is cheap, and the registry keeps
the artifacts anyway)."""

from __future__ import annotations

import re
from typing import Any

from mlops_provider.deploy.sagemaker import describe_endpoint, sagemaker_name


def _in_use(client: Any, endpoint: str) -> tuple[set[str], set[str]]:
    """The endpoint configs the endpoint uses (current and pending) and the models they name."""
    found = describe_endpoint(client, endpoint)
    if found is None:
        return set(), set()
    configs = {found.get("EndpointConfigName"),
               (found.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")} - {None}
    models = set()
    for name in configs:
        described = client.describe_endpoint_config(EndpointConfigName=name)
        models |= {v["ModelName"] for v in described.get("ProductionVariants") or []}
    return {str(c) for c in configs}, models


def _names(pages: Any, key: str, field: str) -> list[str]:
    return [str(item[field]) for page in pages for item in page.get(key) or []]


def _stem(model: str, version: str, digits: int) -> str:
    """What `deploy.sagemaker.names` puts before the hex digest of `version`'s objects (endpoint configs: 8
    digits, models: 6), whatever options made them."""
    return sagemaker_name(model, f"-v{version}-{'0' * digits}")[:-digits]


def _listed(client: Any, model: str, version: str) -> tuple[list[str], list[str]]:
    """The endpoint configs and models of `version`: listed by name prefix, kept only when the whole name fits
    (never another model's: `credit_old_v2`'s v1 is `mlops-credit-old-v2-v1-...`)."""
    config_stem, model_stem = _stem(model, version, 8), _stem(model, version, 6)
    configs = _names(client.get_paginator("list_endpoint_configs").paginate(NameContains=config_stem),
                     "EndpointConfigs", "EndpointConfigName")
    models = _names(client.get_paginator("list_models").paginate(NameContains=model_stem), "Models", "ModelName")
    return ([c for c in configs if re.fullmatch(re.escape(config_stem) + "[0-9a-f]{8}", c)],
            [m for m in models if re.fullmatch(re.escape(model_stem) + "[0-9a-f]{6}", m)])


def _remove(client: Any, model: str, version: str, endpoint: str, used_configs: set[str],
            used_models: set[str]) -> list[str]:
    configs, models = _listed(client, model, version)
    deletes = (("endpoint config", configs, used_configs, lambda name: client.delete_endpoint_config(
                    EndpointConfigName=name)),
               ("model", models, used_models, lambda name: client.delete_model(ModelName=name)))
    done = []
    for kind, names, used, delete in deletes:
        for name in names:
            if name in used:
                done.append(f"sagemaker: endpoint {endpoint} uses {kind} {name}; left")
                continue
            delete(name)
            done.append(f"sagemaker: deleted {kind} {name}")
    return done


def remove_sagemaker_version(client: Any, model: str, version: str, endpoint: str) -> list[str]:
    """Delete the endpoint configs and models of `version` that `endpoint` does not use. Returns what was done."""
    used_configs, used_models = _in_use(client, endpoint)
    return _remove(client, model, str(version), endpoint, used_configs, used_models)


def remove_sagemaker_model(client: Any, model: str, endpoint: str, versions: list[str]) -> list[str]:
    """Delete the endpoint (SageMaker finishes deleting it by itself), then the endpoint configs and models of
    every one of `versions`. Returns what was done."""
    done = []
    if describe_endpoint(client, endpoint) is not None:
        client.delete_endpoint(EndpointName=endpoint)
        done.append(f"sagemaker: deleted endpoint {endpoint}")
    for version in versions:
        done += _remove(client, model, str(version), endpoint, set(), set())
    return done
