"""`trainer.runner` and its blocks in a model config: the default stays local, every mistake names file and key."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mlops_provider.config import parse_model_config
from mlops_provider.exceptions import ConfigError
from tests.helpers.paths import ROOT

BASE = yaml.safe_load((ROOT / "include/models/credit_default.yaml").read_text())
SOURCE = "/models/credit_default.yaml"
POD = {"image": "registry.example/mlops:1.4"}
JOB = {"image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops:1.4",
       "role_arn": "arn:aws:iam::123456789012:role/mlops-training", "output_s3": "s3://mlops-training/jobs/"}


def trainer(**keys: Any) -> Any:
    return parse_model_config({**BASE, "trainer": {**BASE.get("trainer", {}), **keys}}, SOURCE).trainer


def test_the_runner_is_local_unless_configured() -> None:
    assert parse_model_config(BASE, SOURCE).trainer.runner == "local"
    assert trainer().kubernetes is None and trainer().sagemaker is None


def test_a_pod_and_a_job_take_their_defaults() -> None:
    pod = trainer(runner="kubernetes", kubernetes=POD).kubernetes
    assert (pod.namespace, pod.secret, pod.startup_timeout_s, pod.conn_id) == (None, None, 300, "kubernetes_default")
    job = trainer(runner="sagemaker", sagemaker=JOB).sagemaker
    assert job.output_s3 == "s3://mlops-training/jobs"  # one form, whatever the trailing slash
    assert (job.instance_type, job.instance_count, job.volume_gb, job.max_runtime_s, job.conn_id) == (
        "ml.m5.large", 1, 30, 86400, "aws_default")


@pytest.mark.parametrize(("keys", "expected"), [
    ({"runner": "kubernetes"}, "key 'trainer.kubernetes': required with `runner: kubernetes` (at least its `image`)"),
    ({"runner": "sagemaker"}, "key 'trainer.sagemaker': required with `runner: sagemaker`"),
    ({"kubernetes": POD}, "key 'trainer.kubernetes': only read with `runner: kubernetes` (runner is 'local')"),
    ({"runner": "kubernetes", "kubernetes": POD, "sagemaker": JOB}, "key 'trainer.sagemaker': only read with"),
    ({"runner": "batch"}, "key 'trainer.runner'"),
    ({"runner": "kubernetes", "kubernetes": {}}, "key 'trainer.kubernetes.image': Field required"),
    ({"runner": "kubernetes", "kubernetes": {**POD, "cpu": 2}}, "key 'trainer.kubernetes.cpu': unknown key"),
    ({"runner": "kubernetes", "kubernetes": {**POD, "resources": {"requests": {"memory": "lots"}}}},
     "key 'trainer.kubernetes.resources': requests.memory: 'lots' is not a Kubernetes quantity"),
    ({"runner": "kubernetes", "kubernetes": {**POD, "resources": {"limit": {"cpu": "1"}}}},
     "key 'trainer.kubernetes.resources': unknown key 'limit'"),
    ({"runner": "kubernetes", "kubernetes": {**POD, "secret": "MLflow_Login"}},
     "key 'trainer.kubernetes.secret': 'MLflow_Login' is not a Kubernetes name"),
    ({"runner": "kubernetes", "kubernetes": {**POD, "startup_timeout_s": 0}}, "key 'trainer.kubernetes.startup_"),
    ({"runner": "sagemaker", "sagemaker": {k: v for k, v in JOB.items() if k != "output_s3"}},
     "key 'trainer.sagemaker.output_s3': Field required"),
    ({"runner": "sagemaker", "sagemaker": {**JOB, "role_arn": "mlops-training"}},
     "key 'trainer.sagemaker.role_arn': 'mlops-training' is not an IAM role ARN"),
    ({"runner": "sagemaker", "sagemaker": {**JOB, "output_s3": "/tmp/out"}},
     "key 'trainer.sagemaker.output_s3': '/tmp/out' is not an s3://bucket/prefix URI"),
    ({"runner": "sagemaker", "sagemaker": {**JOB, "instance_type": "m5.large"}},
     "key 'trainer.sagemaker.instance_type'"),
    ({"runner": "sagemaker", "sagemaker": {**JOB, "secret_arn": "mlflow-login"}},
     "key 'trainer.sagemaker.secret_arn': 'mlflow-login' is not a Secrets Manager ARN"),
])
def test_runner_mistakes_name_file_and_key(keys: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        trainer(**keys)
    assert str(caught.value).startswith(f"{SOURCE}: ")
    assert expected in str(caught.value)
