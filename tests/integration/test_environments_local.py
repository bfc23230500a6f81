"""`deploy.environments` on the real local target: a real MLflow registry, two real model servers (staging and
production), real HTTP; then `mlops_deployment` in `dag.test()` taking a version through staging to production,
and a version that fails in staging leaving production untouched.

The target-level tests share one model and run in order: first rollout, no-op retry, a staging failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.model_configs import write_credit_copy
from tests.helpers.trained_versions import register_broken_version, register_versions

MODEL = "credit_envs"
DEPLOY = {"target": "local", "strategy": "blue_green", "options": {"smoke_rows": 10, "latency_budget_ms": 2000},
          "environments": [{"name": "staging"},
                           {"name": "production", "strategy": "canary", "canary_steps": [50, 100]}]}


def stop_servers(state: Path, model: str) -> None:
    """Stop the model's servers of every environment, by the pid each state file records (even half-way)."""
    from mlops_provider.deploy.local import LocalTarget

    for found in sorted(state.rglob(f"{model}.json")):
        pid = json.loads(found.read_text())["pid"]
        try:
            LocalTarget(state_dir=found.parent).stop(model)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass
class Rollout:
    config: Any
    client: Any
    state: Path
    tracking: str

    def targets(self) -> list[tuple[Any, Any]]:
        """(environment, its target) in order: staging, production."""
        from mlops_provider.environments import environments

        return [(env, env.deployment_target(state_dir=self.state, tracking_uri=self.tracking, log_seconds=3600))
                for env in environments(self.config)]

    def alias(self, name: str) -> str | None:
        from mlops_provider.registry import alias_version

        return alias_version(self.client, MODEL, name)

    def server(self, path: Path) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(path.read_text())
        return answer


@pytest.fixture(scope="module")
def rollout(mlflow_server: str, demo_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rollout]:
    from mlflow import MlflowClient

    from mlops_provider.config import load_model_config

    root = tmp_path_factory.mktemp("environments")
    write_credit_copy(root / "models", MODEL, deploy=DEPLOY)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLOPS_MODELS_DIR", str(root / "models"))
        env.setenv("MLOPS_DATA_DIR", str(demo_data_dir))
        assert register_versions(MODEL, mlflow_server, [150, 150]) == ["1", "2"]
        client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
        try:
            yield Rollout(load_model_config(MODEL), client, root / "state", mlflow_server)
        finally:
            stop_servers(root / "state", MODEL)


def test_staging_then_production_run_two_servers_recorded_per_environment(rollout: Rollout) -> None:
    for env, target in rollout.targets():
        result = target.deploy(MODEL, "1", env.strategy, env.config)
        assert result.success, result.steps
        assert f"recorded v1 as serving_{env.name}" in result.steps

    assert (rollout.alias("serving_staging"), rollout.alias("serving_production")) == ("1", "1")
    assert rollout.alias("serving_local") is None  # the single form's alias is not written for this model
    staging = rollout.server(rollout.state / "staging" / f"{MODEL}.json")
    production = rollout.server(rollout.state / f"{MODEL}.json")  # production keeps the single form's path
    assert staging["pid"] != production["pid"]
    assert len({staging["port"], staging["admin_port"], production["port"], production["admin_port"]}) == 4
    for server in (staging, production):
        answer = httpx.get(f"http://127.0.0.1:{server['port']}/version", trust_env=False).json()
        assert answer["weights"] == {"1": 100}
    # only production's server logs its requests: staging traffic must never reach the monitors
    assert "--no-inference-log" in Path(f"/proc/{staging['pid']}/cmdline").read_bytes().decode().split("\0")
    assert "--no-inference-log" not in Path(f"/proc/{production['pid']}/cmdline").read_bytes().decode().split("\0")
    statuses = [target.status(MODEL, env.config) for env, target in rollout.targets()]
    assert [(s.served_version, s.recorded_version, s.healthy) for s in statuses] == [("1", "1", True)] * 2


def test_deploying_what_serves_is_a_no_op_in_each_environment(rollout: Rollout) -> None:
    for env, target in rollout.targets():
        result = target.deploy(MODEL, "1", env.strategy, env.config)
        assert result.success and result.steps == [], (env.name, result.steps)
        assert "already serves all traffic: nothing to do" in result.message


def test_a_version_failing_in_staging_is_tagged_there_and_production_is_untouched(rollout: Rollout) -> None:
    broken = register_broken_version(MODEL, rollout.tracking)
    (staging, target), (production, production_target) = rollout.targets()

    result = target.deploy(MODEL, broken, staging.strategy, staging.config)

    assert not result.success and result.served_version == "1"
    tags = rollout.client.get_model_version(MODEL, broken).tags
    assert "cannot predict the holdout rows itself" in tags["mlops.deploy.staging.failed"]
    assert "mlops.deploy.production.failed" not in tags and "mlops.deploy.local.failed" not in tags
    assert (rollout.alias("serving_staging"), rollout.alias("serving_production")) == ("1", "1")
    status = production_target.status(MODEL, production.config)
    assert (status.served_version, status.traffic) == ("1", {"1": 100})


def test_mlops_deployment_takes_a_version_through_staging_and_stops_a_failing_one_there(
        mlflow_conn: str, private_model: Any, load_dag: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from mlflow import MlflowClient

    from mlops_provider.config import load_model_config
    from mlops_provider.demo import environments as demo_environments
    from mlops_provider.demo.summary import STEPS
    from mlops_provider.operators.deployment import DeployModelOperator
    from mlops_provider.registry import alias_version

    monkeypatch.setenv("MLOPS_STATE_DIR", str(tmp_path / "state"))
    name = private_model("credit_staged", deploy=DEPLOY)
    client = MlflowClient(tracking_uri=mlflow_conn, registry_uri=mlflow_conn)
    assert register_versions(name, mlflow_conn, [150]) == ["1"]
    try:
        run = load_dag("mlops_deployment").test(run_conf={"model": name, "version": "1"})

        assert str(run.state) == "success", states(run)
        assert states(run) == {"release": "success", "deploy_staging": "success", "deploy": "success",
                               "verify": "success"}
        assert alias_version(client, name, "serving_staging") == alias_version(client, name, "serving_production")
        assert alias_version(client, name, "serving_production") == "1"
        staged = run.get_task_instance("deploy_staging", map_index=0).xcom_pull(task_ids="deploy_staging",
                                                                                map_indexes=0)
        assert [e["environment"] for e in staged["environments"]] == ["staging"]
        # the demo's step reads the same: staging recorded v1 before production did
        monkeypatch.setattr(demo_environments, "mlflow_client", lambda: client)
        demo_environments.staging_rollout(name)
        assert [s[0] for s in STEPS[-3:]] == [f"{name} staging", f"{name} production",
                                              f"staging -> production rollout of {name}"]
        assert STEPS[-3][1].startswith("v1 at http://127.0.0.1:") and "(serving_staging)" in STEPS[-3][1]
        assert STEPS[-1][1] == "v1 served and verified in staging first"

        broken = register_broken_version(name, mlflow_conn)
        failed = load_dag("mlops_deployment").test(run_conf={"model": name, "version": broken})

        assert str(failed.state) == "failed"
        assert states(failed) == {"release": "success", "deploy_staging": "failed", "deploy": "upstream_failed",
                                  "verify": "upstream_failed"}
        assert alias_version(client, name, "serving_production") == "1"
        assert "mlops.deploy.staging.failed" in client.get_model_version(name, broken).tags
        production = json.loads((tmp_path / "state" / "serving" / f"{name}.json").read_text())
        answer = httpx.get(f"http://127.0.0.1:{production['port']}/version", trust_env=False).json()
        assert answer["weights"] == {"1": 100}
        # production alone (a task cleared by hand) is refused for a version staging does not record
        with pytest.raises(AirflowFailException, match=f"v{broken} is not deployed to production: staging \\(local\\) "
                                                       "records v1 as serving_staging"):
            DeployModelOperator(task_id="deploy", model=name, version=broken)._check_staged(
                load_model_config(name), broken)
    finally:
        stop_servers(tmp_path / "state", name)


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
