"""SageMaker deployment target: a model version as a SageMaker model, an endpoint config per version, one endpoint.

A deploy of `version`:
1. packages the version's MLflow artifacts as `model.tar.gz` under `deploy.options.s3_prefix`
   (`s3://bucket/prefix/<model>/<version>/model.tar.gz`; skipped when already there);
2. `CreateModel` with the MLflow pyfunc serving image (`image`) and that model data;
3. `CreateEndpointConfig` for the version (its name carries the version and a hash of the variant settings);
4. `CreateEndpoint`, or `UpdateEndpoint` with a `DeploymentConfig` from the strategy: `rolling` -> a
   `RollingUpdatePolicy`; `blue_green` -> blue/green with `ALL_AT_ONCE` traffic routing; `canary` -> blue/green with
   `CANARY` (the first of `canary_steps`) or `LINEAR` (when the steps are even, e.g. 25/50/75/100) routing; with
   `rollback_alarms`, an `AutoRollbackConfiguration` so SageMaker rolls back on a CloudWatch alarm;
5. waits until the endpoint settles, then checks what it really serves. SageMaker rolls a failed update back by
   itself and returns to `InService` on the *old* endpoint config with a `FailureReason`: that is a failed deploy
   (the previous version still serves and is recorded; the failed version is tagged with the reason).

Deferrable: `begin` does steps 1-4 and returns a `Pending` whose trigger (`SageMakerEndpointTrigger`) polls
`DescribeEndpoint` in the triggerer until the endpoint leaves the busy states; `resume` describes the endpoint once
and decides as step 5 does, whatever the event says (a settled `InService` may still be a rollback). `deploy` is
`begin`, the same wait in-process, and the same decision.

Idempotent: when the endpoint already serves this version's endpoint config, nothing is called but
`DescribeEndpoint`; when it is already updating to it (a retried task), the wait resumes. Clients come from the
amazon provider's `SageMakerHook` (`aws_conn_id`), or are injected (`sagemaker_client`, `s3_client`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_provider.deploy.base import (
    DeferrableTarget,
    DeploymentResult,
    DeploymentStatus,
    Pending,
    check_canary_steps,
    check_strategy,
    check_version,
)
from mlops_provider.deploy.sagemaker_options import SageMakerOptions
from mlops_provider.exceptions import DeploymentError, DeploymentRefused
from mlops_provider.registry import (
    previous_version,
    record_rollback,
    record_serving,
    recorded_for_status,
    recorded_version,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig

log = logging.getLogger(__name__)

TARGET = "sagemaker"
TRIGGER = "mlops_provider.triggers.sagemaker.SageMakerEndpointTrigger"
STATE_KEYS = frozenset({"model", "version", "strategy", "endpoint", "endpoint_config", "creating",
                        "previous_version", "steps", "deadline"})
SERVING_ENV = {"MLFLOW_DEPLOYMENT_FLAVOR_NAME": "python_function", "SERVING_ENVIRONMENT": "SageMaker"}
VARIANT = "AllTraffic"
BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
CONFIG_VERSION = re.compile(r"-v(\d+)-[0-9a-f]{8}$")


@dataclass(frozen=True)
class Names:
    """What one version of a model is called in SageMaker and S3."""

    endpoint: str
    model: str
    endpoint_config: str
    model_data: str
    bucket: str
    key: str


def sagemaker_name(model: str, suffix: str = "") -> str:
    """`mlops-<model><suffix>` within SageMaker's rules (letters, digits, '-', at most 63 characters)."""
    stem = "mlops-" + re.sub(r"[^a-zA-Z0-9-]", "-", model).strip("-")
    room = 63 - len(suffix)
    if len(stem) > room:
        stem = f"{stem[:room - 7].rstrip('-')}-{hashlib.sha256(model.encode()).hexdigest()[:6]}"
    return stem + suffix


def names(model: str, version: str, options: SageMakerOptions, suffix: str = "") -> Names:
    """What `version` of `model` is called; `suffix` (`-staging`) keeps an environment before production apart from
    production's endpoint, endpoint configs and models (unless its options name the endpoint)."""
    key = "/".join(part for part in (options.prefix, model, version, "model.tar.gz") if part)
    model_data = f"s3://{options.bucket}/{key}"
    container = {"image": options.image, "data": model_data, "env": environment(options),
                 "role": options.execution_role_arn}
    model_name = sagemaker_name(model, f"{suffix}-v{version}-{_digest(container, 6)}")
    variant = production_variant(model_name, options)
    return Names(endpoint=options.endpoint_name or sagemaker_name(model, suffix), model=model_name,
                 endpoint_config=sagemaker_name(model, f"{suffix}-v{version}-{_digest(variant, 8)}"),
                 model_data=model_data, bucket=options.bucket, key=key)


def environment(options: SageMakerOptions) -> dict[str, str]:
    return {**SERVING_ENV, **options.env}


def production_variant(model_name: str, options: SageMakerOptions) -> dict[str, Any]:
    return {"VariantName": VARIANT, "ModelName": model_name, "InitialInstanceCount": options.instance_count,
            "InstanceType": options.instance_type, "InitialVariantWeight": 1.0}


def version_of_config(config_name: str | None) -> str | None:
    """The model version an endpoint config of this target serves (from its name), or None."""
    found = CONFIG_VERSION.search(config_name or "")
    return found.group(1) if found else None


def _linear_step(steps: list[int]) -> int | None:
    """The step size when `steps` rise evenly (25, 50, 75, 100) by 10..50 percent, else None."""
    size = steps[0]
    if len(steps) >= 3 and 10 <= size <= 50 and steps == [size * (i + 1) for i in range(len(steps))]:
        return size
    return None


def deployment_config(model: str, strategy: str, steps: list[int],
                      options: SageMakerOptions) -> tuple[dict[str, Any], str]:
    """`UpdateEndpoint`'s `DeploymentConfig` for a strategy, and a sentence saying how traffic will move."""
    timeout = {"MaximumExecutionTimeoutInSeconds": options.max_execution_timeout} \
        if options.max_execution_timeout else {}
    rollback = {"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in options.rollback_alarms]}} \
        if options.rollback_alarms else {}
    alarms = f"; auto-rollback on {', '.join(options.rollback_alarms)}" if options.rollback_alarms else ""
    if strategy == "rolling":
        policy = {"MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": options.rolling_batch_percent},
                  "WaitIntervalInSeconds": options.wait_interval, **timeout}
        return ({"RollingUpdatePolicy": policy, **rollback},
                f"rolling update in batches of {options.rolling_batch_percent}% of the capacity{alarms}")
    kind = options.traffic_routing or ("ALL_AT_ONCE" if strategy == "blue_green" else
                                       "LINEAR" if _linear_step(steps) else "CANARY")
    routing: dict[str, Any] = {"Type": kind, "WaitIntervalInSeconds": options.wait_interval}
    if kind == "CANARY":
        if steps[0] > 50:
            raise DeploymentRefused(f"model '{model}': a SageMaker canary takes at most 50% of the capacity, "
                                    f"canary_steps start at {steps[0]}")
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": steps[0]}
        skipped = f" (SageMaker's canary has two steps; {steps[1:-1]} not used)" if len(steps) > 2 else ""
        how = f"blue/green, canary {steps[0]}% then 100% after {options.wait_interval}s{skipped}"
    elif kind == "LINEAR":
        size = _linear_step(steps)
        if size is None:
            raise DeploymentRefused(f"model '{model}': LINEAR traffic routing needs canary_steps that rise evenly "
                                    f"by 10..50 (e.g. [25, 50, 75, 100]), got {steps}")
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": size}
        how = f"blue/green, {size}% more every {options.wait_interval}s"
    else:
        how = "blue/green, all traffic at once"
    policy = {"TrafficRoutingConfiguration": routing, "TerminationWaitInSeconds": options.termination_wait, **timeout}
    return {"BlueGreenUpdatePolicy": policy, **rollback}, how + alarms


def _digest(value: Any, size: int) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:size]


def _not_found(err: Exception) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(err, ClientError):
        return False
    error = err.response.get("Error", {})
    return error.get("Code") in ("404", "NoSuchKey", "NotFound") or (
        error.get("Code") == "ValidationException" and "could not find" in str(error.get("Message", "")).lower())


def describe_endpoint(client: Any, endpoint: str) -> dict[str, Any] | None:
    """`DescribeEndpoint` of `endpoint` with `client` (a boto3 SageMaker client), or None when there is none."""
    try:
        found: dict[str, Any] = client.describe_endpoint(EndpointName=endpoint)
    except Exception as err:
        if _not_found(err):
            return None
        raise
    return found


class SageMakerTarget(DeferrableTarget):
    """Serve registered model versions on a SageMaker real-time endpoint (see the module docstring).

    `sagemaker_client` and `s3_client` (boto3 clients) replace the clients of `SageMakerHook(aws_conn_id)`;
    `mlflow_client` replaces `MlflowClient()` of the current tracking URI; `poll_interval` is how often the endpoint
    is described while it changes.
    """

    name = TARGET

    def __init__(self, *, aws_conn_id: str | None = "aws_default", region_name: str | None = None,
                 sagemaker_client: Any = None, s3_client: Any = None, mlflow_client: MlflowClient | None = None,
                 poll_interval: float = 30.0) -> None:
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.sagemaker_client = sagemaker_client
        self.s3_client = s3_client
        self.mlflow_client = mlflow_client
        self.poll_interval = poll_interval

    def _clients(self) -> tuple[Any, Any]:
        if self.sagemaker_client is None or self.s3_client is None:
            from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

            hook = SageMakerHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)
            self.sagemaker_client = self.sagemaker_client or hook.conn
            self.s3_client = self.s3_client or hook.s3_hook.get_conn()
        return self.sagemaker_client, self.s3_client

    def _describe(self, endpoint: str) -> dict[str, Any] | None:
        return describe_endpoint(self._clients()[0], endpoint)

    # -- deploy -----------------------------------------------------------------------------------------------------

    def deploy(self, model: str, version: str, strategy: str, config: ModelConfig) -> DeploymentResult:
        """The blocking path (outside Airflow): `begin`, wait in this process, then decide as `resume` does."""
        outcome = self.begin(model, version, strategy, config)
        if isinstance(outcome, DeploymentResult):
            return outcome
        final = self._wait(outcome.state["endpoint"], outcome.state["deadline"])
        return self._settle(outcome.state, final, config)

    def begin(self, model: str, version: str, strategy: str, config: ModelConfig) -> DeploymentResult | Pending:
        """Check the input, prepare the version and start `CreateEndpoint`/`UpdateEndpoint` (or find that a
        retried task already started it); `Pending` on the endpoint's trigger, or the no-op result."""
        check_strategy(model, strategy)
        steps = check_canary_steps(model, config.deploy.canary_steps) if strategy == "canary" \
            else list(config.deploy.canary_steps)
        version = str(version)
        registry = self._registry()
        check_version(registry, model, version)
        options = SageMakerOptions.parse(model, config.deploy.options)
        wanted = names(model, version, options, self.suffix)
        how = deployment_config(model, strategy, steps, options)  # checked even when creating the endpoint
        current = self._describe(wanted.endpoint)
        serving = version_of_config(current.get("EndpointConfigName")) \
            if current and current["EndpointStatus"] != "Failed" else None
        result = DeploymentResult(TARGET, model, version, strategy, False, serving, serving)
        if current is not None and current["EndpointStatus"] == "InService" \
                and current.get("EndpointConfigName") == wanted.endpoint_config:
            if recorded_version(registry, model, self.place) != version:
                record_serving(registry, model, version, self.place)
            result.success, result.steps = True, [f"endpoint {wanted.endpoint} already serves {wanted.endpoint_config}"]
            result.message = f"v{version} already serves on endpoint {wanted.endpoint}: nothing to do"
            return result
        creating = current is None or current["EndpointStatus"] == "Failed"
        if current is not None and self._resumable(current, wanted):
            result.steps.append(f"endpoint {wanted.endpoint} is already {current['EndpointStatus']} towards "
                                f"{wanted.endpoint_config}: waiting for it")
            creating = current["EndpointStatus"] == "Creating"
        else:
            if current is not None and current["EndpointStatus"] in BUSY:
                raise DeploymentRefused(f"model '{model}': endpoint {wanted.endpoint} is "
                                        f"{current['EndpointStatus']} (another change is in progress); "
                                        "deploy again once it is InService")
            if current is not None and current["EndpointStatus"] == "Failed":
                self._delete_endpoint(wanted.endpoint, options)
                result.steps.append(f"deleted endpoint {wanted.endpoint}, Failed since its creation: "
                                    f"{current.get('FailureReason', 'no reason given')}")
                result.served_version = result.previous_version = None
            self._prepare(registry, model, version, options, wanted, result.steps)
            self._start(wanted, None if creating else how, result.steps)
        return self._pending(result, wanted, creating, options)

    def resume(self, state: dict[str, Any], event: dict[str, Any], config: ModelConfig) -> DeploymentResult:
        """Describe the endpoint once and decide (the event only explains a wait that did not settle)."""
        missing = sorted(STATE_KEYS - set(state))
        if missing:
            raise DeploymentError(f"cannot resume a SageMaker deployment without the state begin() returned "
                                  f"(missing {', '.join(missing)}; got {sorted(state)})")
        final = self._describe(state["endpoint"])
        waited = f" ({event.get('status', 'no status')}: {event['message']})" if event.get("message") else ""
        if final is None:
            raise DeploymentError(f"model '{state['model']}': endpoint {state['endpoint']} disappeared while it "
                                  f"was changing to {state['endpoint_config']}{waited}")
        if final["EndpointStatus"] in BUSY:
            raise DeploymentError(f"model '{state['model']}': endpoint {state['endpoint']} is still "
                                  f"{final['EndpointStatus']} after the wait for {state['endpoint_config']} ended"
                                  f"{waited}; deploy again to keep waiting")
        return self._settle(state, final, config)

    def _pending(self, result: DeploymentResult, wanted: Names, creating: bool,
                 options: SageMakerOptions) -> Pending:
        """What `resume` needs (all JSON) and the trigger that waits for the endpoint to settle."""
        deadline = (datetime.now(UTC) + timedelta(seconds=options.timeout)).isoformat()
        state = {"model": result.model, "version": result.version, "strategy": result.strategy,
                 "endpoint": wanted.endpoint, "endpoint_config": wanted.endpoint_config, "creating": creating,
                 "previous_version": result.previous_version, "steps": list(result.steps), "deadline": deadline}
        trigger_kwargs = {"endpoint": wanted.endpoint, "deadline": deadline, "poll_interval": self.poll_interval,
                          "aws_conn_id": self.aws_conn_id, "region_name": self.region_name}
        return Pending(TRIGGER, trigger_kwargs, state, steps=list(result.steps))

    def _settle(self, state: dict[str, Any], final: dict[str, Any], config: ModelConfig) -> DeploymentResult:
        """The result of the change `state` started, now that the endpoint is `final` (not busy)."""
        result = DeploymentResult(TARGET, state["model"], state["version"], state["strategy"], False,
                                  state["previous_version"], state["previous_version"], steps=list(state["steps"]))
        options = SageMakerOptions.parse(result.model, config.deploy.options)
        return self._conclude(result, self._registry(), final, state["endpoint"], state["endpoint_config"],
                              state["creating"], options)

    def _resumable(self, current: dict[str, Any], wanted: Names) -> bool:
        """A retried task: the endpoint is already on its way to this version's config."""
        pending = (current.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        if current["EndpointStatus"] == "Creating":
            return bool(current.get("EndpointConfigName") == wanted.endpoint_config)
        return current["EndpointStatus"] in BUSY and pending == wanted.endpoint_config

    def _prepare(self, registry: MlflowClient, model: str, version: str, options: SageMakerOptions, wanted: Names,
                 steps: list[str]) -> None:
        """The SageMaker model (with its artifacts in S3) and the endpoint config of this version."""
        sagemaker, _ = self._clients()
        tags = [{"Key": "mlops.model", "Value": model}, {"Key": "mlops.version", "Value": version}]
        if not self._exists(sagemaker.describe_model, ModelName=wanted.model):
            self._package(registry, model, version, wanted, steps)
            sagemaker.create_model(ModelName=wanted.model, ExecutionRoleArn=options.execution_role_arn, Tags=tags,
                                   PrimaryContainer={"Image": options.image, "ModelDataUrl": wanted.model_data,
                                                     "Environment": environment(options)})
            steps.append(f"created model {wanted.model} ({options.image}, {wanted.model_data})")
        if not self._exists(sagemaker.describe_endpoint_config, EndpointConfigName=wanted.endpoint_config):
            sagemaker.create_endpoint_config(EndpointConfigName=wanted.endpoint_config, Tags=tags,
                                             ProductionVariants=[production_variant(wanted.model, options)])
            steps.append(f"created endpoint config {wanted.endpoint_config} "
                         f"({options.instance_count} x {options.instance_type})")

    def _package(self, registry: MlflowClient, model: str, version: str, wanted: Names, steps: list[str]) -> None:
        """Upload the version's MLflow artifacts as model.tar.gz (MLmodel at the root), unless already there."""
        _, s3 = self._clients()
        if self._exists(s3.head_object, Bucket=wanted.bucket, Key=wanted.key):
            steps.append(f"model artifacts already at {wanted.model_data}")
            return
        import mlflow.artifacts

        source = registry.get_model_version_download_uri(model, version)
        with tempfile.TemporaryDirectory(prefix="mlops-sagemaker-") as folder:
            local = Path(folder) / "model"
            local.mkdir()
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(local),
                                                             tracking_uri=registry.tracking_uri))
            archive = Path(folder) / "model.tar.gz"
            with tarfile.open(archive, "w:gz") as tar:
                for child in sorted(local.iterdir()) if local.is_dir() else [local]:
                    tar.add(child, arcname=child.name)
            s3.upload_file(str(archive), wanted.bucket, wanted.key)
        steps.append(f"uploaded the artifacts of {source} to {wanted.model_data}")

    def _start(self, wanted: Names, how: tuple[dict[str, Any], str] | None, steps: list[str]) -> None:
        sagemaker, _ = self._clients()
        if how is None:
            sagemaker.create_endpoint(EndpointName=wanted.endpoint, EndpointConfigName=wanted.endpoint_config)
            steps.append(f"creating endpoint {wanted.endpoint} with {wanted.endpoint_config}")
            return
        deployment, description = how
        try:
            sagemaker.update_endpoint(EndpointName=wanted.endpoint, EndpointConfigName=wanted.endpoint_config,
                                      DeploymentConfig=deployment)
        except Exception as err:
            raise DeploymentError(f"endpoint {wanted.endpoint}: UpdateEndpoint to {wanted.endpoint_config} was "
                                  f"refused, nothing changed: {err}") from err
        steps.append(f"updating endpoint {wanted.endpoint} to {wanted.endpoint_config}: {description}")

    def _exists(self, describe: Any, **kwargs: Any) -> bool:
        try:
            describe(**kwargs)
        except Exception as err:
            if _not_found(err):
                return False
            raise
        return True

    def _wait(self, endpoint: str, deadline: str) -> dict[str, Any]:
        """Describe the endpoint until it leaves the busy states; DeploymentError after `deadline` (ISO time)."""
        while True:
            found = self._describe(endpoint)
            if found is None:
                raise DeploymentError(f"endpoint {endpoint} disappeared while it was changing")
            if found["EndpointStatus"] not in BUSY:
                return found
            if datetime.now(UTC) >= datetime.fromisoformat(deadline):
                raise DeploymentError(f"endpoint {endpoint} is still {found['EndpointStatus']} at the deadline "
                                      f"{deadline}; deploy again to keep waiting")
            log.info("Endpoint %s is %s", endpoint, found["EndpointStatus"])
            time.sleep(self.poll_interval)

    def _delete_endpoint(self, endpoint: str, options: SageMakerOptions) -> None:
        sagemaker, _ = self._clients()
        sagemaker.delete_endpoint(EndpointName=endpoint)
        deadline = time.monotonic() + options.timeout
        while self._describe(endpoint) is not None:
            if time.monotonic() >= deadline:
                raise DeploymentError(f"endpoint {endpoint} is still being deleted after {options.timeout:g}s")
            time.sleep(self.poll_interval)

    def _conclude(self, result: DeploymentResult, registry: MlflowClient, final: dict[str, Any], endpoint: str,
                  endpoint_config: str, creating: bool, options: SageMakerOptions) -> DeploymentResult:
        status, config = final["EndpointStatus"], final.get("EndpointConfigName")
        if status == "InService" and config == endpoint_config:
            record_serving(registry, result.model, result.version, self.place,
                           reason=f"{result.strategy}: endpoint InService")
            result.success, result.served_version = True, result.version
            result.steps.append(f"endpoint {endpoint} is InService with {config}")
            result.message = (f"v{result.version} serves on endpoint {endpoint} ({result.strategy})"
                              + (f", replacing v{result.previous_version}" if result.previous_version else ""))
            return result
        why = final.get("FailureReason") or "no reason given"
        if creating:
            self._delete_endpoint(endpoint, options)
            result.steps.append(f"endpoint {endpoint} failed to create ({why}); deleted it")
            result.served_version = None
            reason = f"endpoint {endpoint} failed to create: {why}"
        elif status == "InService":
            result.served_version = version_of_config(config)
            result.steps.append(f"SageMaker rolled endpoint {endpoint} back to {config}: {why}")
            reason = f"SageMaker rolled the update of endpoint {endpoint} back: {why}"
        else:  # Failed or UpdateRollbackFailed: SageMaker could not even restore the old fleet
            result.served_version = None
            reason = f"endpoint {endpoint} is {status} after the update: {why}; it needs attention"
        record_rollback(registry, result.model, result.version, self.place, reason, result.served_version or None)
        still = f"v{result.served_version} still serves" if result.served_version else "nothing serves"
        result.message = f"{reason}; {still}"
        log.error("Model %s: v%s on %s failed: %s", result.model, result.version, TARGET, result.message)
        return result

    # -- status and rollback ------------------------------------------------------------------------------------------

    def status(self, model: str, config: ModelConfig) -> DeploymentStatus:
        options = SageMakerOptions.parse(model, config.deploy.options)
        endpoint = options.endpoint_name or sagemaker_name(model, self.suffix)
        recorded = recorded_for_status(self._registry, model, self.place)
        found = self._describe(endpoint)
        if found is None:
            return DeploymentStatus(TARGET, model, False, None, recorded_version=recorded,
                                    message=f"no endpoint {endpoint}")
        served = version_of_config(found.get("EndpointConfigName"))
        healthy = found["EndpointStatus"] == "InService"
        pending = (found.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        return DeploymentStatus(
            TARGET, model, healthy, served, traffic={served: 100} if healthy and served else {},
            recorded_version=recorded,
            message=f"endpoint {endpoint} is {found['EndpointStatus']} with {found.get('EndpointConfigName')}",
            details={"endpoint": endpoint, "status": found["EndpointStatus"],
                     "endpoint_config": found.get("EndpointConfigName"), "pending_endpoint_config": pending,
                     "failure_reason": found.get("FailureReason")})

    def rollback(self, model: str, config: ModelConfig, to_version: str | None = None) -> DeploymentResult:
        """Serve `to_version` (default: what served before) again, blue/green all at once; its model and endpoint
        config still exist, so nothing is uploaded again."""
        target_version = to_version or previous_version(self._registry(), model, self.place)
        if target_version is None:
            raise DeploymentRefused(f"model '{model}': nothing to roll back to on {TARGET} "
                                    "(no previous version is recorded)")
        result = self.deploy(model, str(target_version), "blue_green", config)
        result.steps.insert(0, f"rollback to v{target_version} (blue/green, all at once)")
        return result
