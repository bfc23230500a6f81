"""`trainer.kubernetes` and `trainer.sagemaker` of a model config: where a remote training runs (no client import).

`trainer.runner` picks one of them; `config.TrainerConfig` refuses a runner without its block and a block
without its runner, so every key given here is read by the runner that `trainer.runner` names.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Kubernetes' quantity syntax (`250m`, `1.5`, `512Mi`, `2G`); the API server would refuse anything else at run time
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$")
RESOURCE_KEYS = ("requests", "limits")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class KubernetesRunner(_Strict):
    """`trainer.kubernetes`: the pod that runs `mlops train` for `trainer.runner: kubernetes`."""

    image: str = Field(min_length=1, description="the repository image (built from the Dockerfile): it holds "
                                                  "the package, the model configs and the `mlops` command")
    namespace: str | None = Field(None, description="default: the Kubernetes connection's, else `default`")
    resources: dict[str, dict[str, str]] = Field({}, description="{requests: {cpu: 1}, limits: {memory: 4Gi}}")
    node_selector: dict[str, str] = Field({}, description="node labels the pod must be scheduled on")
    service_account: str | None = Field(None, description="the pod's service account (e.g. one allowed to "
                                                          "read the training data)")
    secret: str | None = Field(None, description="Kubernetes Secret with keys `username` and `password` of the "
                                                 "MLflow server; required when the MLflow connection has a login")
    startup_timeout_s: float = Field(300, gt=0, description="a pod still Pending after this is deleted and the "
                                                            "task fails (image pull, no node fits)")
    conn_id: str = Field("kubernetes_default", min_length=1, description="the Airflow Kubernetes connection")

    @field_validator("namespace", "secret", "service_account")
    @classmethod
    def _dns_name(cls, value: str | None) -> str | None:
        if value is not None and not DNS_LABEL.match(value):
            raise ValueError(f"'{value}' is not a Kubernetes name (lowercase letters, digits and '-')")
        return value

    @field_validator("resources")
    @classmethod
    def _quantities(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for kind, amounts in value.items():
            if kind not in RESOURCE_KEYS:
                raise ValueError(f"unknown key '{kind}' (use {' and '.join(RESOURCE_KEYS)})")
            for name, amount in amounts.items():
                if not QUANTITY.match(str(amount)):
                    raise ValueError(f"{kind}.{name}: '{amount}' is not a Kubernetes quantity (e.g. 500m, 2Gi)")
        return value


class SageMakerRunner(_Strict):
    """`trainer.sagemaker`: the SageMaker training job that runs `mlops train` for `trainer.runner: sagemaker`."""

    image_uri: str = Field(min_length=1, description="ECR URI of the repository image")
    role_arn: str = Field(description="the job's execution role (reads the data, writes `output_s3`)")
    output_s3: str = Field(description="s3:// prefix where SageMaker puts the job's output (the training result)")
    instance_type: str = Field("ml.m5.large", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    instance_count: int = Field(1, ge=1, le=100)
    volume_gb: int = Field(30, ge=1, le=16384)
    max_runtime_s: int = Field(86400, ge=1, le=28 * 86400)
    region: str | None = Field(None, description="default: the AWS connection's region")
    conn_id: str = Field("aws_default", min_length=1, description="the Airflow AWS connection")
    secret_arn: str | None = Field(None, description="Secrets Manager secret ({username, password}) of the MLflow "
                                                     "server, read by the job with its role; required when the "
                                                     "MLflow connection has a login")

    @field_validator("role_arn")
    @classmethod
    def _role(cls, value: str) -> str:
        if not ROLE_ARN.match(value):
            raise ValueError(f"'{value}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        return value

    @field_validator("output_s3")
    @classmethod
    def _s3(cls, value: str) -> str:
        if not S3_URI.match(value):
            raise ValueError(f"'{value}' is not an s3://bucket/prefix URI")
        return value.rstrip("/")

    @field_validator("secret_arn")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("arn:aws") and ":secret:" in value):
            raise ValueError(f"'{value}' is not a Secrets Manager ARN (arn:aws:secretsmanager:...:secret:...)")
        return value
