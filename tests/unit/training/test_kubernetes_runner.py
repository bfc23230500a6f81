"""`trainer.runner: kubernetes` against the fake Kubernetes API server: the pod's spec, a pod that trains for real
(against a real MLflow server) and whose result is read back, a failed pod, a pod that never starts, a retry that
adopts the pod of an earlier try."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops_provider.config import ModelConfig, parse_model_config
from mlops_provider.exceptions import ConfigError, RunnerError, TrainingError
from mlops_provider.training.remote import RESULT_MARKER, RemoteTraining
from mlops_provider.training.remote.kubernetes import pod_manifest, run_pod
from tests.helpers.fake_k8s import FakeKubernetes
from tests.helpers.fake_pods import PodOutcome
from tests.helpers.paths import ROOT

PASSWORD = "s3cret-mlflow-password"
RUNNER = {"image": "registry.example/mlops:1.4", "namespace": "training", "secret": "mlflow-login",
          "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "6Gi"}},
          "node_selector": {"pool": "training"}, "service_account": "trainer", "startup_timeout_s": 0.5}
SAMPLE = {"model": "toy", "run_id": "r1", "experiment_id": "1", "model_uri": "models:/m-1", "model_id": "m-1",
          "metrics": {"holdout_roc_auc": 0.8}, "data_digest": "d", "data_uri": "file:///t", "reused": False,
          "validation": "not validated"}


def remote(config: ModelConfig, **runner: Any) -> ModelConfig:
    trainer = {**config.trainer.model_dump(exclude={"kubernetes", "sagemaker"}), "runner": "kubernetes",
               "kubernetes": {**RUNNER, **runner}}
    return parse_model_config({**config.model_dump(), "trainer": trainer}, config.source)


def training(try_number: int = 1, tracking_uri: str = "http://mlflow.mlops:5000") -> RemoteTraining:
    return RemoteTraining(model="toy", dag_id="mlops_training", run_id="scheduled__2026-03-01", try_number=try_number,
                          reason="schedule", validation={"data_digest": "abc"}, tracking_uri=tracking_uri)


def run(config: ModelConfig, api: Any, job: RemoteTraining, *, has_login: bool = True) -> Any:
    assert config.trainer.kubernetes is not None
    return run_pod(config, config.trainer.kubernetes, job, has_login=has_login, log=lambda *a: None, api_client=api,
                   poll_interval=0.02)


def printing(*lines: str, exit_code: int = 0) -> Any:
    return lambda pod: PodOutcome(exit_code, "\n".join(lines))


def test_the_pod_carries_the_config_and_only_a_reference_to_the_login(toy_config: ModelConfig) -> None:
    config = remote(toy_config)
    assert config.trainer.kubernetes is not None
    pod = pod_manifest(config.trainer.kubernetes, training(), "training")
    container = pod["spec"]["containers"][0]

    assert pod["metadata"]["name"] == training().name == f"{training().key}-t1"
    assert training(try_number=3).key == training().key and training(try_number=3).name.endswith("-t3")
    assert container["image"] == "registry.example/mlops:1.4"
    assert container["command"][:3] == ["mlops", "train", "toy"]
    assert json.loads(container["command"][container["command"].index("--validation") + 1]) == {"data_digest": "abc"}
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "6Gi"}}
    assert pod["spec"]["nodeSelector"] == {"pool": "training"}
    assert pod["spec"]["serviceAccountName"] == "trainer" and pod["spec"]["restartPolicy"] == "Never"
    env = {item["name"]: item for item in container["env"]}
    assert env["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow.mlops:5000"
    assert env["MLFLOW_TRACKING_PASSWORD"] == {"name": "MLFLOW_TRACKING_PASSWORD", "valueFrom": {
        "secretKeyRef": {"name": "mlflow-login", "key": "password"}}}
    assert all("value" not in env[name] for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"))


def test_a_login_without_a_secret_is_refused_before_any_pod(toy_config: ModelConfig,
                                                           cluster: tuple[FakeKubernetes, Any]) -> None:
    fake, api = cluster
    config = remote(toy_config, secret=None)
    with pytest.raises(ConfigError, match=r"key 'trainer.kubernetes.secret': the MLflow connection has a login"):
        run(config, api, training())
    assert fake.created_pods.created == []
    fake.created_pods.script = printing(RESULT_MARKER + json.dumps(SAMPLE))
    assert run(config, api, training(), has_login=False) == SAMPLE  # a server without a login needs no secret
    [pod] = fake.created_pods.created
    assert all("valueFrom" not in item for item in pod["spec"]["containers"][0]["env"])


def test_a_pod_that_trains_returns_its_result_and_never_sees_a_literal_login(
        toy_with_data: str, toy_config: ModelConfig, cluster: tuple[FakeKubernetes, Any], mlflow_server: str,
        tmp_path: Path) -> None:
    from mlflow import MlflowClient

    fake, api = cluster
    fake.created_pods.secrets["mlflow-login"] = {"username": "trainer", "password": PASSWORD}

    def container(pod: dict[str, Any]) -> PodOutcome:
        """The image's `mlops train`, run for real with the pod's environment (secrets resolved by the kubelet)."""
        command = pod["spec"]["containers"][0]["command"]
        assert command[0] == "mlops"
        env = {**os.environ, **fake.created_pods.resolved_env(pod), "PYTHONPATH": str(ROOT / "include")}
        done = subprocess.run([sys.executable, "-m", "mlops_provider.cli", *command[1:]], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        return PodOutcome(done.returncode, done.stderr + done.stdout)

    fake.created_pods.script = container
    job = training(tracking_uri=mlflow_server)
    job = RemoteTraining(**{**job.__dict__, "validation": None})
    result = run(remote(toy_config), api, job)

    run_ = MlflowClient(tracking_uri=mlflow_server).get_run(result["run_id"])
    assert run_.data.tags["mlops.dag_run_id"] == "scheduled__2026-03-01"
    assert result["model_uri"] == f"models:/{result['model_id']}" and result["reused"] is False
    assert result["metrics"]["holdout_roc_auc"] == pytest.approx(run_.data.metrics["holdout_roc_auc"])
    assert 0.5 < result["metrics"]["holdout_roc_auc"] <= 1
    [created] = fake.created_pods.created
    assert PASSWORD not in json.dumps(created)
    assert fake.created_pods.get("training", job.name) is None  # read, then deleted


def test_a_failed_pod_fails_with_the_end_of_its_log(toy_config: ModelConfig,
                                                     cluster: tuple[FakeKubernetes, Any]) -> None:
    fake, api = cluster
    fake.created_pods.script = printing(*[f"step {i}" for i in range(200)], "MemoryError: 6Gi was not enough",
                                        exit_code=137)
    with pytest.raises(RunnerError, match=r"(?s)failed \(Error, exit code 137\).*step 199\nMemoryError") as failed:
        run(remote(toy_config), api, training())
    assert "step 100\n" not in str(failed.value)  # the tail, not the whole log
    assert fake.created_pods.get("training", training().name) is not None  # kept for a look; a retry starts anew


def test_a_pod_whose_training_is_broken_fails_without_retry(toy_config: ModelConfig,
                                                              cluster: tuple[FakeKubernetes, Any]) -> None:
    fake, api = cluster
    fake.created_pods.script = printing("error: model 'toy': trainer raised ValueError: bad params", exit_code=2)
    with pytest.raises(TrainingError, match="(?s)exit code 2.*trainer raised ValueError"):
        run(remote(toy_config), api, training())


def test_a_pod_pending_past_the_startup_timeout_is_deleted(toy_config: ModelConfig,
                                                           cluster: tuple[FakeKubernetes, Any]) -> None:
    fake, api = cluster
    config = remote(toy_config, image="registry.example/broken:1")
    with pytest.raises(RunnerError, match=r"still Pending after 0.5s \(ImagePullBackOff: Back-off pulling image"):
        run(config, api, training())
    assert len(fake.created_pods.created) == 1 and fake.created_pods.get("training", training().name) is None


def test_a_retry_adopts_the_succeeded_pod_of_an_earlier_try(toy_config: ModelConfig,
                                                             cluster: tuple[FakeKubernetes, Any]) -> None:
    fake, api = cluster
    config = remote(toy_config)
    assert config.trainer.kubernetes is not None
    fake.created_pods.script = printing("training...", RESULT_MARKER + json.dumps(SAMPLE))
    fake.created_pods.create("training", pod_manifest(config.trainer.kubernetes, training(1), "training"))
    other_run = RemoteTraining(**{**training(1).__dict__, "run_id": "manual__other"})
    fake.created_pods.create("training", pod_manifest(config.trainer.kubernetes, other_run, "training"))

    assert run(config, api, training(try_number=2)) == SAMPLE
    assert [pod["metadata"]["name"] for pod in fake.created_pods.created] == [training(1).name, other_run.name]


def test_a_retry_after_a_failed_try_starts_a_pod_of_its_own(toy_config: ModelConfig,
                                                             cluster: tuple[FakeKubernetes, Any]) -> None:
    fake, api = cluster
    fake.created_pods.script = printing("boom", exit_code=1)
    with pytest.raises(RunnerError):
        run(remote(toy_config), api, training(1))
    fake.created_pods.script = printing(RESULT_MARKER + json.dumps(SAMPLE))

    assert run(remote(toy_config), api, training(2)) == SAMPLE
    assert [pod["metadata"]["name"] for pod in fake.created_pods.created] == [training(1).name, training(2).name]


def test_a_pod_that_prints_no_result_is_an_error(toy_config: ModelConfig,
                                                 cluster: tuple[FakeKubernetes, Any]) -> None:
    fake, api = cluster
    fake.created_pods.script = printing("done, I think")
    with pytest.raises(RunnerError, match="(?s)printed no training result.*done, I think"):
        run(remote(toy_config), api, training())
