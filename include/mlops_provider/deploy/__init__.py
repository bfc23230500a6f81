"""Deployment targets behind one interface: `get_target(name)` builds `local`, `kubernetes` or `sagemaker`.

Importing this package is cheap: the targets (and MLflow) are imported only when a target is built, and the
registry helpers re-exported here only when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from mlops_provider.deploy.base import (
    STRATEGIES,
    TARGETS,
    DeferrableTarget,
    DeploymentResult,
    DeploymentStatus,
    DeploymentTarget,
    Pending,
    get_target,
)

_LAZY = {"record_failure": "mlops_provider.registry", "record_serving": "mlops_provider.registry",
         "serving_alias": "mlops_provider.registry"}

__all__ = [
    "STRATEGIES",
    "TARGETS",
    "DeploymentResult",
    "DeploymentStatus",
    "DeferrableTarget",
    "Pending",
    "DeploymentTarget",
    "get_target",
    "record_failure",
    "record_serving",
    "serving_alias",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
