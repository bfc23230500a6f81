"""The local target for real: a real MLflow registry, a real detached model server, real HTTP.

The tests of this module share one model and its server and run in order: first deployment, no-op retry,
canary, failed candidates rolled back, bad input, rollback, restart after a stop, a broken candidate. The
environment is a worker's (secrets included); the server gets none of them.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlops_provider.exceptions import DeploymentError
from tests.helpers.model_configs import write_credit_copy
from tests.helpers.trained_versions import register_broken_version, register_versions

MODEL = "credit_local"
WORKER_SECRETS = {"AIRFLOW__CORE__FERNET_KEY": "fernet-secret", "AIRFLOW__API_AUTH__JWT_SECRET": "jwt-secret",
                  "AIRFLOW_CONN_WAREHOUSE": "postgresql://etl:warehouse-password@db/dwh"}



@dataclass
class Deployment:
    target: Any
    config: Any
    client: Any
    state_dir: Path

    def alias(self) -> str | None:
        from mlops_provider.registry import alias_version

        return alias_version(self.client, MODEL, "serving_local")

    def loaded(self) -> dict[str, int]:
        server = self.target.status(MODEL, self.config).details["server"]
        response = httpx.get(f"http://127.0.0.1:{server['port']}/version", trust_env=False)
        weights: dict[str, int] = response.json()["weights"]
        return weights

    def with_options(self, **options: Any) -> Any:
        deploy = self.config.deploy.model_copy(update={"options": {**self.config.deploy.options, **options}})
        return self.config.model_copy(update={"deploy": deploy})


@pytest.fixture(scope="module")
def deployment(mlflow_server: str, demo_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Deployment]:
    from mlflow import MlflowClient

    from mlops_provider.config import load_model_config
    from mlops_provider.deploy import get_target

    root = tmp_path_factory.mktemp("local-deploy")
    write_credit_copy(root / "models", MODEL, deploy={
        "target": "local", "strategy": "canary", "canary_steps": [30, 100],
        "options": {"smoke_rows": 15, "latency_budget_ms": 2000}})
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLOPS_MODELS_DIR", str(root / "models"))
        env.setenv("MLOPS_DATA_DIR", str(demo_data_dir))
        for name, value in WORKER_SECRETS.items():  # as in an Airflow worker: none may reach the server
            env.setenv(name, value)
        assert register_versions(MODEL, mlflow_server, [150, 5, 150]) == ["1", "2", "3"]
        target = get_target("local", state_dir=root / "state", tracking_uri=mlflow_server, log_seconds=3600)
        client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
        try:
            yield Deployment(target, load_model_config(MODEL), client, root / "state")
        finally:
            _stop_everything(target, root / "state")


def _stop_everything(target: Any, state_dir: Path) -> None:
    """Stop the server even when a test failed half-way (by the pid the target recorded)."""
    import json

    state = state_dir / f"{MODEL}.json"
    pid = json.loads(state.read_text())["pid"] if state.exists() else None
    try:
        target.stop(MODEL)
    finally:
        if pid is not None:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            os.kill(pid, signal.SIGKILL)


def test_first_deployment_starts_the_server_and_records_what_it_serves(deployment: Deployment) -> None:
    result = deployment.target.deploy(MODEL, "1", "canary", deployment.config)
    assert result.success, result.steps
    assert (result.served_version, result.previous_version) == ("1", None)
    assert any(step.startswith("started the model server") for step in result.steps)
    assert any("15 predictions equal the model's" in step for step in result.steps)
    assert deployment.alias() == "1"
    status = deployment.target.status(MODEL, deployment.config)
    assert status.healthy and status.traffic == {"1": 100} and status.recorded_version == "1"
    assert result.to_dict()["target"] == "local"


def test_the_server_process_inherits_no_secret_of_the_worker(deployment: Deployment) -> None:
    pid = deployment.target.status(MODEL, deployment.config).details["server"]["pid"]
    environ = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    names = [entry.partition("=")[0] for entry in environ if entry]
    assert [name for name in names if name.startswith(("AIRFLOW__", "AIRFLOW_CONN_")) or name in WORKER_SECRETS] == []
    assert not any(secret in entry for secret in WORKER_SECRETS.values() for entry in environ)


def test_deploying_the_served_version_again_is_a_no_op(deployment: Deployment) -> None:
    pid = deployment.target.status(MODEL, deployment.config).details["server"]["pid"]
    result = deployment.target.deploy(MODEL, "1", "canary", deployment.config)
    assert result.success and result.served_version == "1"
    assert "already serves all traffic: nothing to do" in result.message and result.steps == []
    assert deployment.target.status(MODEL, deployment.config).details["server"]["pid"] == pid


def test_canary_moves_traffic_in_steps_and_records_the_new_version(deployment: Deployment) -> None:
    result = deployment.target.deploy(MODEL, "2", "canary", deployment.config)
    assert result.success, result.steps
    assert (result.served_version, result.previous_version) == ("2", "1")
    percents = [step for step in result.steps if step.startswith("canary: v2 takes")]
    assert percents == ["canary: v2 takes 30%", "canary: v2 takes 100%"]
    assert "unloaded v1" in result.steps
    assert deployment.alias() == "2" and deployment.loaded() == {"2": 100}
    tags = deployment.client.get_registered_model(MODEL).tags
    assert tags["mlops.deploy.local.previous"] == "1"


def test_predictions_that_differ_from_the_models_roll_back(deployment: Deployment,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_provider.deploy.local import target as local

    real = local.model_predictions

    def other_model(model: str, version: str, rows: Any) -> list[Any]:  # as if v3 served something else
        return [1 - p for p in real(model, version, rows)]

    monkeypatch.setattr(local, "model_predictions", other_model)
    result = deployment.target.deploy(MODEL, "3", "canary", deployment.config)
    assert not result.success
    assert (result.served_version, result.previous_version) == ("2", "2")
    assert "15 of 15 predictions differ from the model's" in result.message
    assert "rolled back: v2 takes all traffic again" in result.steps and "unloaded v3" in result.steps
    assert deployment.alias() == "2" and deployment.loaded() == {"2": 100}
    failed = deployment.client.get_model_version(MODEL, "3").tags["mlops.deploy.local.failed"]
    assert "predictions differ" in failed


def test_a_candidate_over_the_latency_budget_rolls_back(deployment: Deployment) -> None:
    config = deployment.with_options(latency_budget_ms=0)
    result = deployment.target.deploy(MODEL, "3", "rolling", config)
    assert not result.success and result.served_version == "2"
    assert "over the budget of 0 ms" in result.message
    assert deployment.alias() == "2" and deployment.loaded() == {"2": 100}
    assert "over the budget" in deployment.client.get_model_version(MODEL, "3").tags["mlops.deploy.local.failed"]


@pytest.mark.parametrize(("version", "strategy", "message"), [
    ("99", "canary", "model 'credit_local' has no version 99"),
    ("abc", "canary", "version 'abc' is not a version number"),
    ("3", "shadow", "unknown deployment strategy 'shadow'"),
])
def test_bad_input_changes_nothing(deployment: Deployment, version: str, strategy: str, message: str) -> None:
    with pytest.raises(DeploymentError, match=message):
        deployment.target.deploy(MODEL, version, strategy, deployment.config)
    assert deployment.alias() == "2" and deployment.loaded() == {"2": 100}


def test_rollback_serves_the_version_that_served_before(deployment: Deployment) -> None:
    result = deployment.target.rollback(MODEL, deployment.config)
    assert result.success, result.steps
    assert result.message.startswith("rollback to v1:") and result.strategy == "blue_green"
    assert deployment.alias() == "1" and deployment.loaded() == {"1": 100}


def test_a_stopped_server_is_started_again_with_the_recorded_version(deployment: Deployment) -> None:
    assert deployment.target.stop(MODEL)
    assert not deployment.target.status(MODEL, deployment.config).healthy
    result = deployment.target.deploy(MODEL, "1", "blue_green", deployment.config)
    assert result.success and "nothing to do" in result.message
    assert result.steps[0].startswith("started the model server")
    assert result.steps[1] == "restored v1, the version recorded as serving_local"
    assert deployment.loaded() == {"1": 100}


def test_a_candidate_that_cannot_predict_is_refused_and_a_500_rolls_back(
        deployment: Deployment, mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_provider.deploy.local import target as local

    broken = register_broken_version(MODEL, mlflow_server)
    result = deployment.target.deploy(MODEL, broken, "canary", deployment.config)
    assert not result.success and result.served_version == "1"
    assert f"v{broken} cannot predict the holdout rows itself: ValueError" in result.message
    assert not any(step.startswith("loaded") for step in result.steps)  # never reached the server
    assert deployment.alias() == "1" and deployment.loaded() == {"1": 100}

    monkeypatch.setattr(local, "model_predictions", lambda model, version, rows: [0] * len(rows))
    result = deployment.target.deploy(MODEL, broken, "canary", deployment.config)  # the server answers 500
    assert not result.success and result.served_version == "1"
    assert "HTTP 500" in result.message and f"v{broken} failed: ValueError" in result.message
    assert "rolled back: v1 takes all traffic again" in result.steps
    assert deployment.alias() == "1" and deployment.loaded() == {"1": 100}
    assert "HTTP 500" in deployment.client.get_model_version(MODEL, broken).tags["mlops.deploy.local.failed"]
