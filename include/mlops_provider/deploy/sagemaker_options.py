"""`deploy.options` of the SageMaker target, checked into `SageMakerOptions` (no boto3 import here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from mlops_provider.deploy.options import Bad, TargetOptions, check_env, check_integer

ROUTINGS = ("ALL_AT_ONCE", "CANARY", "LINEAR")


@dataclass(frozen=True)
class SageMakerOptions(TargetOptions):
    """`deploy.options` of a model whose target is `sagemaker`, checked."""

    target: ClassVar[str] = "sagemaker"
    required: ClassVar[tuple[str, ...]] = ("image", "execution_role_arn", "s3_prefix")
    required_why: ClassVar[str] = ("the serving image in ECR, the role SageMaker assumes, and s3://bucket/prefix for "
                                   "the model artifacts")

    image: str
    execution_role_arn: str
    s3_prefix: str
    endpoint_name: str | None = None
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    env: dict[str, str] = field(default_factory=dict)
    rollback_alarms: tuple[str, ...] = ()
    traffic_routing: str | None = None
    wait_interval: int = 300
    termination_wait: int = 300
    max_execution_timeout: int | None = None
    rolling_batch_percent: int = 25
    timeout: float = 3600.0

    @property
    def bucket(self) -> str:
        return self.s3_prefix.removeprefix("s3://").split("/", 1)[0]

    @property
    def prefix(self) -> str:
        rest = self.s3_prefix.removeprefix("s3://").split("/", 1)
        return rest[1].strip("/") if len(rest) > 1 else ""

    @classmethod
    def check_on_load(cls, values: dict[str, Any], bad: Bad) -> None:
        check_env(values, bad)

    @classmethod
    def check(cls, values: dict[str, Any], bad: Bad) -> dict[str, Any]:
        if not str(values["s3_prefix"]).startswith("s3://") or not str(values["s3_prefix"])[5:].strip("/"):
            raise bad("s3_prefix", f"expected s3://bucket/prefix, got {values['s3_prefix']!r}")
        for key, low, high in (("instance_count", 1, 10_000), ("wait_interval", 0, 3600),
                               ("termination_wait", 0, 3600), ("max_execution_timeout", 600, 28800),
                               ("rolling_batch_percent", 5, 50)):
            check_integer(values, key, bad, low, high, none=True)
        if "timeout" in values and (not isinstance(values["timeout"], int | float) or values["timeout"] <= 0):
            raise bad("timeout", f"expected a number of seconds, got {values['timeout']!r}")
        if values.get("traffic_routing") is not None and values["traffic_routing"] not in ROUTINGS:
            raise bad("traffic_routing", f"expected one of {', '.join(ROUTINGS)}, got {values['traffic_routing']!r}")
        alarms = values.get("rollback_alarms", [])
        if isinstance(alarms, str) or not all(isinstance(a, str) and a for a in alarms) or len(alarms) > 10:
            raise bad("rollback_alarms", f"expected a list of up to 10 CloudWatch alarm names, got {alarms!r}")
        values["rollback_alarms"] = tuple(alarms)
        check_env(values, bad)
        return values
