"""Deployment targets behind one interface: `get_target(name)` builds `local`, `kubernetes` or `sagemaker`.

Importing this package is cheap: the targets (and MLflow) are imported only when a target is built, and the
registry helpers re-exported here only when first used.
"""

from __future__ import annotations

from mlops_provider.deploy._lazy import lazy_names
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


__getattr__ = lazy_names(__name__, {"mlops_provider.registry": ("record_failure", "record_serving"),
                                    "mlops_provider.tracking": ("serving_alias",)})
