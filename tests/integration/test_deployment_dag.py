"""mlops_deployment with dag.test(): a trained champion served by the local target over real HTTP, then a
slow candidate refused by the smoke test and rolled back, all against a real MLflow server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.helpers.model_configs import CREDIT_DEFAULT

CREDIT_TRAINER = yaml.safe_load(CREDIT_DEFAULT.read_text())["trainer"]
SLOW = "mlops_provider.demo.broken.sleep_then_pass"  # the slow candidate's step: trusted for this model only
DEPLOY = {"target": "local", "strategy": "canary", "canary_steps": [50, 100],
          "options": {"latency_budget_ms": 1000, "smoke_rows": 5}}


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_the_champion_is_served_and_a_slow_candidate_is_rolled_back(
        mlflow_conn: str, private_model: Any, load_dag: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    from mlops_provider.config import load_model_config
    from mlops_provider.demo.broken import register_slow_candidate
    from mlops_provider.demo.traffic import send_traffic
    from mlops_provider.deploy.local import LocalTarget
    from mlops_provider.inference_log import VERSION, inference_uri, list_windows, read_windows

    monkeypatch.setenv("MLOPS_STATE_DIR", str(tmp_path / "state"))
    name = private_model("credit_deployed", deploy=DEPLOY, trainer={**CREDIT_TRAINER, "trusted_types": [SLOW]})
    client = MlflowClient(tracking_uri=mlflow_conn, registry_uri=mlflow_conn)
    try:
        trained = load_dag("mlops_training").test()
        assert str(trained.state) == "success", states(trained)
        champion = client.get_registered_model(name).aliases["champion"]

        run = load_dag("mlops_deployment").test(run_conf={"model": name})

        assert str(run.state) == "success", states(run)
        assert states(run) == {"release": "success", "deploy_staging": "success", "deploy": "success",
                               "verify": "success"}
        assert client.get_registered_model(name).aliases.get("serving_local") == champion
        server = json.loads((tmp_path / "state" / "serving" / f"{name}.json").read_text())
        answer = httpx.get(f"http://127.0.0.1:{server['port']}/version").json()
        assert answer["weights"] == {champion: 100}

        sent = send_traffic(name, tracking_uri=mlflow_conn, rows=120, seed=3)  # goes through the server
        assert "logged by the server" in sent["window"] and sent["version"] == champion
        logged = read_windows(list_windows(inference_uri(load_model_config(name))))
        assert len(logged) == 120 and set(logged[VERSION]) == {champion}

        slow = register_slow_candidate(name, tracking_uri=mlflow_conn, seconds=2.0)
        failed = load_dag("mlops_deployment").test(run_conf={"model": name, "version": slow})

        assert str(failed.state) == "failed"
        assert states(failed)["deploy"] == "failed" and states(failed)["verify"] == "upstream_failed"
        assert client.get_registered_model(name).aliases.get("serving_local") == champion
        reason = client.get_model_version(name, slow).tags["mlops.deploy.local.failed"]
        assert "p95 latency" in reason and "over the budget of 1000 ms" in reason
        answer = httpx.get(f"http://127.0.0.1:{server['port']}/version").json()
        assert answer["weights"] == {champion: 100}, "the slow candidate must be unloaded again"
        assert [v["version"] for v in answer["versions"]] == [champion]
    finally:
        LocalTarget(state_dir=tmp_path / "state" / "serving").stop(name)
