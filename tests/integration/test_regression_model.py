"""The demo's regression model (diabetes_progression) through the same paths as the classifiers: mlops_training
trains and gates it on rmse/r2/rmse per group/latency, mlops_deployment serves it on the local target (staging,
then production, as the demo's config says), and the production server answers the model's own numbers and logs
them (no class score), against a real MLflow server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.helpers.model_configs import MODELS, write_model_copy


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_the_regressor_is_trained_gated_on_every_criterion_served_and_logged(
        mlflow_conn: str, demo_env: Path, load_dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd
    from mlflow import MlflowClient

    from mlops_provider.config import load_model_config
    from mlops_provider.deploy.local import LocalTarget
    from mlops_provider.deploy.smoke import split_payload
    from mlops_provider.inference_log import PREDICTION, SCORE, inference_uri, list_windows, read_windows
    from mlops_provider.tracking import ModelTrust, load_registered_model, tracking_uri

    gate = yaml.safe_load((MODELS / "diabetes_progression.yaml").read_text())["gate"]
    gate.pop("approval")  # dag.test() would wait for a person; the sign-off has its own e2e test
    name = write_model_copy(tmp_path / "models", "diabetes_progression", "diabetes_served", gate=gate)
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("MLOPS_STATE_DIR", str(tmp_path / "state"))
    client = MlflowClient(tracking_uri=mlflow_conn, registry_uri=mlflow_conn)
    try:
        trained = load_dag("mlops_training").test()
        assert str(trained.state) == "success", states(trained)
        champion = client.get_registered_model(name).aliases["champion"]
        tags = client.get_model_version(name, champion).tags
        verdicts = {c["name"]: c["verdict"] for c in json.loads(tags["mlops.criteria"])}
        assert verdicts == {"rmse": "pass", "r2": "pass", "rmse_by_sex": "pass", "latency_p95_ms": "pass"}
        groups = next(c["groups"] for c in json.loads(tags["mlops.criteria"]) if c["name"] == "rmse_by_sex")
        assert sorted(g["group"] for g in groups) == ["1", "2"] and all(g["rows"] >= 30 for g in groups)

        run = load_dag("mlops_deployment").test(run_conf={"model": name})
        assert str(run.state) == "success", states(run)
        aliases = client.get_registered_model(name).aliases  # the demo's config: staging, then production
        assert (aliases.get("serving_staging"), aliases.get("serving_production")) == (champion, champion)
        assert states(run)["deploy_staging"] == "success"

        rows = pd.read_parquet(demo_env / "diabetes_progression" / "train.parquet").head(20)
        features = rows[load_model_config(name).features.all]
        with tracking_uri(mlflow_conn):
            model = load_registered_model(f"models:/{name}/{champion}", trust=ModelTrust.for_model(name))
        expected = model.predict(features)
        server = json.loads((tmp_path / "state" / "serving" / f"{name}.json").read_text())
        answer = httpx.post(f"http://127.0.0.1:{server['port']}/invocations", json=split_payload(features))
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == pytest.approx(list(expected), rel=1e-9)
        assert all(25 < p < 346 for p in answer.json()["predictions"]), "progression is on the target's scale"
    finally:
        LocalTarget(state_dir=tmp_path / "state" / "serving").stop(name)  # flushes the inference log
        LocalTarget(state_dir=tmp_path / "state" / "serving" / "staging").stop(name)
    logged = read_windows(list_windows(inference_uri(load_model_config(name))))
    served = logged[logged[PREDICTION].isin(answer.json()["predictions"])]
    assert len(served) == 20 and served[SCORE].isna().all(), "a regressor's rows carry no class score"
