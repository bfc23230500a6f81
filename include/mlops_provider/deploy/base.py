"""The deployment interface every target implements, the lookup of a target by name, and the input checks
targets share. The registry records (`serving_<target>`, failed and previous versions) are in
`mlops_provider.registry`, the smoke test in `mlops_provider.deploy.smoke`.

A target (`local`, `kubernetes`, `sagemaker`) deploys one registered version of a model with a strategy
(`rolling`, `blue_green`, `canary`), verifies it, and rolls back when verification fails. What a target really
serves is recorded in the registry as the alias `serving_<target>` (the drift monitor reads it); a failed version
is tagged `mlops.deploy.<target>.failed` with the reason. A target built for one of a model's
`deploy.environments` (`get_target(..., environment=...)`, see `mlops_provider.environments`) records under the
environment's name instead (`serving_staging`, `mlops.deploy.staging.failed`) and keeps its serving objects apart
from the other environments'. Plain Python: no Airflow import, MLflow only inside functions.

Contract of `DeploymentTarget.deploy`:
- raises `DeploymentError` for bad input found before anything changed (unknown strategy, missing version);
- returns `success=False` when a change was tried, failed verification and was rolled back: the previous version
  still serves and is still recorded, the failed version is tagged with the reason;
- deploying the version that already serves is a no-op success (a retried task never deploys twice).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from mlops_provider.exceptions import DeploymentError, DeploymentRefused

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig
    from mlops_provider.environments import Environment

STRATEGIES = ("rolling", "blue_green", "canary")
TARGETS: dict[str, str] = {
    "local": "mlops_provider.deploy.local:LocalTarget",
    "kubernetes": "mlops_provider.deploy.kubernetes:KubernetesTarget",
    "sagemaker": "mlops_provider.deploy.sagemaker:SageMakerTarget",
}


@dataclass
class DeploymentResult:
    """What one deploy or rollback did. `served_version` is what serves afterwards (on failure: the old one)."""

    target: str
    model: str
    version: str
    strategy: str
    success: bool
    served_version: str | None
    previous_version: str | None
    steps: list[str] = field(default_factory=list)
    message: str = ""
    environment: str | None = None  # the `deploy.environments` entry deployed to (None: the single form)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Pending:
    """A deployment that has started a change and now waits for it (a rollout, an endpoint update).

    The Airflow operator defers on the trigger `trigger` (import path) built with `trigger_kwargs`, and when it
    fires calls `target.resume(state, event, config)`, which returns the next `Pending` or the final
    `DeploymentResult`. `state` is JSON-serialisable: it is all the target keeps between the two calls.
    `steps` are the steps taken since the previous `Pending` (the final result's `steps` lists them all).
    Run without Airflow, `DeferrableTarget.deploy` waits in-process instead.
    """

    trigger: str
    trigger_kwargs: dict[str, Any]
    state: dict[str, Any]
    steps: list[str] = field(default_factory=list)


@dataclass
class DeploymentStatus:
    """What a target serves right now. `traffic` maps each live version to its share in percent (sums to 100);
    `recorded_version` is the registry's `serving_<target>` alias, `healthy` whether the endpoint answers."""

    target: str
    model: str
    healthy: bool
    served_version: str | None
    traffic: dict[str, int] = field(default_factory=dict)
    recorded_version: str | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DeploymentTarget(ABC):
    """One place a model can serve. Subclasses set `name` and implement the three operations."""

    name: ClassVar[str]
    mlflow_client: MlflowClient | None = None  # the registry a target records in; default: the current tracking URI
    environment: Environment | None = None  # the one of `deploy.environments` it serves; None: the single form

    @property
    def place(self) -> str:
        """What the registry records this target's serving under: the environment's name (`serving_staging`), or
        the target's own name in the single form (`serving_local`)."""
        return self.environment.key if self.environment is not None else self.name

    @property
    def suffix(self) -> str:
        """What the names of this target's own serving objects end with (`-staging` before production)."""
        return self.environment.suffix if self.environment is not None else ""

    def _registry(self) -> MlflowClient:
        if self.mlflow_client is None:
            from mlflow import MlflowClient

            self.mlflow_client = MlflowClient()
        return self.mlflow_client

    @abstractmethod
    def deploy(self, model: str, version: str, strategy: str, config: ModelConfig) -> DeploymentResult:
        """Serve `version` of `model` with `strategy`, verify it, record it; roll back on failure."""

    @abstractmethod
    def status(self, model: str, config: ModelConfig) -> DeploymentStatus:
        """What serves now, with its traffic split."""

    @abstractmethod
    def rollback(self, model: str, config: ModelConfig, to_version: str | None = None) -> DeploymentResult:
        """Serve `to_version` at 100% again (default: the version that served before the current one)."""


class DeferrableTarget(DeploymentTarget):
    """A target whose waits can be handed to Airflow's triggerer: `begin` starts the change and returns `Pending`
    when it has to wait, `resume` continues after the wait. `deploy` (inherited from the target) stays the
    blocking path for use outside Airflow."""

    @abstractmethod
    def begin(self, model: str, version: str, strategy: str, config: ModelConfig) -> DeploymentResult | Pending:
        """Check the input, start the change; the final result, or what to wait for next."""

    @abstractmethod
    def resume(self, state: dict[str, Any], event: dict[str, Any],
               config: ModelConfig) -> DeploymentResult | Pending:
        """Continue after the trigger of the last `Pending` fired with `event`."""


def get_target(name: str, *, environment: Environment | None = None, **kwargs: Any) -> DeploymentTarget:
    """The target called `name`, built with `kwargs`, for `environment` (None: the single form); its module is
    imported only now."""
    path = TARGETS.get(name)
    if path is None:
        raise DeploymentRefused(f"unknown deployment target '{name}' (known: {', '.join(TARGETS)})")
    module_name, _, attr = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise DeploymentError(f"deployment target '{name}' is not available: {err}") from err
    target: DeploymentTarget = cls(**kwargs)
    target.environment = environment
    return target


def check_strategy(model: str, strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise DeploymentRefused(f"model '{model}': unknown deployment strategy '{strategy}' "
                              f"(known: {', '.join(STRATEGIES)})")


def check_canary_steps(model: str, steps: list[int]) -> list[int]:
    """Percent steps that rise strictly within (0, 100] and end at 100."""
    bad = (not steps or steps[-1] != 100 or steps[0] <= 0
           or any(b <= a for a, b in zip(steps, steps[1:], strict=False)))
    if bad:
        raise DeploymentRefused(f"model '{model}': canary steps must rise from above 0 and end at 100, got {steps}")
    return list(steps)


def check_version(client: MlflowClient, model: str, version: str) -> None:
    """Raise `DeploymentError` unless `version` of `model` exists and is READY."""
    from mlflow.exceptions import MlflowException

    if not str(version).isdigit():
        raise DeploymentRefused(f"model '{model}': version '{version}' is not a version number")
    try:
        found = client.get_model_version(model, str(version))
    except MlflowException as err:
        raise DeploymentRefused(f"model '{model}' has no version {version} in the registry") from err
    if found.status != "READY":
        raise DeploymentRefused(f"model '{model}' version {version} is {found.status}, not READY")
