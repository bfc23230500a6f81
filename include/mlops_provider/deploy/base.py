"""The deployment interface every target implements, the target registry, and the helpers targets share.

A target (`local`, `kubernetes`, `sagemaker`) deploys one registered version of a model with a strategy
(`rolling`, `blue_green`, `canary`), verifies it, and rolls back when verification fails. What a target really
serves is recorded in the registry as the alias `serving_<target>` (the drift monitor reads it); a failed version
is tagged `mlops.deploy.<target>.failed` with the reason. Plain Python: no Airflow import, MLflow only inside
functions.

Contract of `DeploymentTarget.deploy`:
- raises `DeploymentError` for bad input found before anything changed (unknown strategy, missing version);
- returns `success=False` when a change was tried, failed verification and was rolled back: the previous version
  still serves and is still recorded, the failed version is tagged with the reason;
- deploying the version that already serves is a no-op success (a retried task never deploys twice).
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from mlops_provider.exceptions import DeploymentError, DeploymentRefused

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig

STRATEGIES = ("rolling", "blue_green", "canary")
TARGETS: dict[str, str] = {
    "local": "mlops_provider.deploy.local:LocalTarget",
    "kubernetes": "mlops_provider.deploy.kubernetes:KubernetesTarget",
    "sagemaker": "mlops_provider.deploy.sagemaker:SageMakerTarget",
}
FAILED_TAG = "mlops.deploy.{target}.failed"
PREVIOUS_TAG = "mlops.deploy.{target}.previous"  # registered-model tag: what served before the current version


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


def get_target(name: str, **kwargs: Any) -> DeploymentTarget:
    """The target called `name`, built with `kwargs`; its module is imported only now."""
    path = TARGETS.get(name)
    if path is None:
        raise DeploymentRefused(f"unknown deployment target '{name}' (known: {', '.join(TARGETS)})")
    module_name, _, attr = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise DeploymentError(f"deployment target '{name}' is not available: {err}") from err
    target: DeploymentTarget = cls(**kwargs)
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


def serving_alias(target: str) -> str:
    return f"serving_{target}"


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


def recorded_version(client: MlflowClient, model: str, target: str) -> str | None:
    """The version the registry records as served by `target` (the alias `serving_<target>`)."""
    from mlops_provider.registry import alias_version

    return alias_version(client, model, serving_alias(target))


def recorded_for_status(registry: Callable[[], MlflowClient], model: str, target: str) -> str | None:
    """`recorded_version` for a status report: None (and a warning) when the registry cannot be read, since what
    the target serves is still worth reporting."""
    try:
        return recorded_version(registry(), model, target)
    except Exception as err:
        logging.getLogger(__name__).warning("Model %s: the registry could not be read: %s", model, err)
        return None


def previous_version(client: MlflowClient, model: str, target: str) -> str | None:
    """The version that served on `target` before the recorded one, if any."""
    tags = client.get_registered_model(model).tags or {}
    return tags.get(PREVIOUS_TAG.format(target=target)) or None


def record_serving(client: MlflowClient, model: str, version: str, target: str) -> None:
    """Record that `target` serves `version`: alias `serving_<target>` (the old one kept as a model tag)."""
    old = recorded_version(client, model, target)
    if old is not None and old != str(version):
        client.set_registered_model_tag(model, PREVIOUS_TAG.format(target=target), old)
    client.set_registered_model_alias(model, serving_alias(target), str(version))


def record_failure(client: MlflowClient, model: str, version: str, target: str, reason: str) -> None:
    """Tag the version that failed to deploy with the reason (`mlops.deploy.<target>.failed`)."""
    client.set_model_version_tag(model, str(version), FAILED_TAG.format(target=target), reason[:5000])


def record_rollback(client: MlflowClient, model: str, failed: str, target: str, reason: str,
                    served: str | None) -> None:
    """After a failed deployment: tag the failed version with the reason, and make sure the registry records the
    version that serves again (`served`, if any) as `serving_<target>`."""
    record_failure(client, model, failed, target, reason)
    if served is not None and recorded_version(client, model, target) != served:
        record_serving(client, model, served, target)


# -- verification shared by targets: the served predictions must equal the model's own ---------------------------

@dataclass
class SmokeCheck:
    """Outcome of a smoke test: `ok` when every prediction matched and p95 latency was within budget."""

    ok: bool
    rows: int
    mismatches: int
    p95_ms: float
    budget_ms: float
    message: str


def smoke_rows(config: ModelConfig, limit: int = 50) -> pd.DataFrame:
    """Up to `limit` holdout rows of the model, as the served model receives them (features only)."""
    from mlops_provider.data import features_frame, load_batches

    _, holdout, _, _ = load_batches(config)
    return features_frame(config, holdout.head(limit)).reset_index(drop=True)


def model_predictions(model: str, version: str, rows: pd.DataFrame) -> list[Any]:
    """The registered version's own predictions for `rows` (loaded from the current tracking URI)."""
    from mlops_provider.tracking import load_version

    return _plain(load_version(model, version).predict(rows))


def split_payload(rows: pd.DataFrame) -> dict[str, Any]:
    """`rows` in MLflow's `dataframe_split` scoring format (JSON-safe: NaN becomes null)."""
    data = [[None if isinstance(v, float) and math.isnan(v) else v for v in row]
            for row in rows.astype(object).itertuples(index=False, name=None)]
    return {"dataframe_split": {"columns": list(rows.columns), "data": data}}


def smoke_test(invoke: Callable[[dict[str, Any]], list[Any]], rows: pd.DataFrame, expected: list[Any], *,
               budget_ms: float, label: str, batch: int = 1) -> SmokeCheck:
    """Send `rows` through `invoke` (payload -> predictions) `batch` rows per request; every prediction must
    equal `expected`, and the p95 request latency (after the first, warm-up request) must stay within
    `budget_ms`. A p95 over the budget is measured once more before it counts (a busy machine makes one slow
    pass; a slow model makes two). `invoke` raising counts as a failure (its message is kept)."""
    try:
        got, p95 = _send(invoke, rows, batch)
    except _SmokeRequestFailed as err:
        return SmokeCheck(False, err.rows, 0, 0.0, budget_ms, f"{label}: {err}")
    mismatches = sum(1 for a, b in zip(got, expected, strict=False) if not _equal(a, b))
    mismatches += abs(len(got) - len(expected))
    if mismatches:
        first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if not _equal(a, b)), None)
        where = "" if first is None else f" (first at row {first}: served {got[first]!r}, model {expected[first]!r})"
        return SmokeCheck(False, len(got), mismatches, p95, budget_ms,
                          f"{label}: {mismatches} of {len(expected)} predictions differ from the model's{where}")
    note = ""
    if p95 > budget_ms:
        try:
            again = _send(invoke, rows, batch)[1]
        except _SmokeRequestFailed as err:
            return SmokeCheck(False, err.rows, 0, p95, budget_ms, f"{label}: {err}")
        note, p95 = f" (measured twice: {p95:.1f} ms, then {again:.1f} ms)", min(p95, again)
    if p95 > budget_ms:
        return SmokeCheck(False, len(got), 0, p95, budget_ms,
                          f"{label}: p95 latency {p95:.1f} ms is over the budget of {budget_ms:g} ms{note}")
    return SmokeCheck(True, len(got), 0, p95, budget_ms,
                      f"{label}: {len(got)} predictions equal the model's, p95 {p95:.1f} ms "
                      f"(budget {budget_ms:g} ms){note}")


class _SmokeRequestFailed(Exception):
    def __init__(self, message: str, rows: int) -> None:
        super().__init__(message)
        self.rows = rows


def _send(invoke: Callable[[dict[str, Any]], list[Any]], rows: pd.DataFrame, batch: int) -> tuple[list[Any], float]:
    """All `rows` through `invoke`: the predictions and the p95 latency in ms (the first request not counted)."""
    got: list[Any] = []
    latencies: list[float] = []
    for start in range(0, len(rows), batch):
        chunk = rows.iloc[start:start + batch]
        began = time.perf_counter()
        try:
            got.extend(_plain(invoke(split_payload(chunk))))
        except Exception as err:
            raise _SmokeRequestFailed(f"smoke request failed after {len(got)} row(s): {err}", len(got)) from err
        latencies.append((time.perf_counter() - began) * 1000)
    return got, _percentile(latencies[1:] or latencies, 95)


def _plain(values: Any) -> list[Any]:
    """Predictions as plain Python values (numpy scalars and arrays unwrapped)."""
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    return [v.item() if hasattr(v, "item") else v for v in items]


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[index]
