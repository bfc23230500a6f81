"""mlops_training run with dag.test() against a real MLflow server; then the registry is checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.model_configs import write_demo_models
from tests.helpers.webhook import webhook_receiver

# A one-split tree: a much worse model than the configured one, still above a low minimum.
STUMP = {"callable": "mlops_provider.training.sklearn:train_classifier",
         "params": {"estimator": "hist_gradient_boosting", "max_iter": 1, "max_depth": 1}, "seed": 42}


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def client_for(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_training_dag_trains_registers_and_promotes_every_model(mlflow_conn: str, demo_env: Path, tmp_path: Path,
                                                                load_dag: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's models as they are (two classifiers, one regressor), the regressor's sign-off turned off."""
    from mlops_provider.config import load_model_config
    from mlops_provider.monitoring import load_holdout_scores

    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path / "models"))
    models = write_demo_models(tmp_path / "models")
    assert models == ["breast_cancer", "credit_default", "diabetes_progression"]
    run = load_dag("mlops_training").test()

    assert str(run.state) == "success", states(run)
    client = client_for(mlflow_conn)
    for model in models:
        config = load_model_config(model)
        versions = [v for v in client.search_model_versions(f"name = '{model}'")
                    if v.tags.get("mlops.dag_run_id") == run.run_id]
        assert len(versions) == 1, f"{model}: expected one version from this run, got {len(versions)}"
        version = versions[0]
        aliases = client.get_registered_model(model).aliases
        assert aliases.get("champion") == version.version, (model, version.tags)
        assert aliases.get("challenger") == version.version
        assert version.tags["mlops.dag_run_id"] == run.run_id
        assert version.tags["mlops.reason"] == "schedule"
        assert version.tags["mlops.decision"] == "promoted"
        assert version.tags["mlops.validation"].startswith("passed ")
        mlflow_run = client.get_run(version.run_id)
        assert client.get_experiment(mlflow_run.info.experiment_id).name == f"mlops/{model}"
        inputs = mlflow_run.inputs.dataset_inputs
        assert inputs and inputs[0].dataset.digest and inputs[0].dataset.source
        assert version.tags["mlops.data_digest"] == mlflow_run.data.tags["mlops.data_digest"]
        scores = load_holdout_scores(client, config, version.version)
        assert scores is not None and len(scores) == int(mlflow_run.data.params["holdout_rows"])
        if config.task == "regression":
            # diabetes: ridge on ten variables explains about half the variance (r2 ~0.4-0.5, rmse ~55)
            assert 40 < mlflow_run.data.metrics["holdout_rmse"] < 65
            assert mlflow_run.data.metrics["holdout_r2"] > 0.3
            assert float(version.tags["mlops.score.candidate"]) == pytest.approx(
                mlflow_run.data.metrics["holdout_rmse"], rel=1e-6)
            assert mlflow_run.data.params["trainer"].endswith("train_regressor")
            assert list(scores.columns) == ["y_true", "y_pred"]
            continue
        assert float(version.tags["mlops.score.candidate"]) >= 0.7
        assert "holdout_roc_auc" in mlflow_run.data.metrics
        assert mlflow_run.data.params["trainer"].endswith(("train_classifier",))
        assert list(scores.columns) == ["y_true", "y_pred", "y_pred_proba"]
        assert scores["y_pred_proba"].between(0, 1).all()
        assert ((scores["y_pred_proba"] >= 0.5) == (scores["y_pred"] == 1)).all()


def test_worse_model_leaves_champion_in_place(mlflow_conn: str, private_model: Any, load_dag: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with webhook_receiver() as hook:
        monkeypatch.setenv("AIRFLOW_CONN_TEAM_HOOK", json.dumps({"conn_type": "http", "host": hook.base}))
        alerts = [{"notifier": "http", "conn_id": "team_hook", "on": ["promotion", "rejected"]}]
        name = private_model("credit_worse", alerts=alerts)
        first = load_dag("mlops_training").test()
        assert str(first.state) == "success", states(first)

        private_model(name, trainer=STUMP, gate={"metric": "roc_auc", "minimum": 0.5, "max_regression": 0.01},
                      alerts=alerts)
        second = load_dag("mlops_training").test()
    told = [json.loads(post["body"]) for post in hook.posts]
    assert [(t["kind"], t["versions"].get("candidate")) for t in told] == [("promotion", "1"), ("rejected", "2")]
    assert told[1]["versions"]["champion"] == "1" and "worse than champion v1" in told[1]["details"]

    assert str(second.state) == "success", states(second)
    client = client_for(mlflow_conn)
    versions = {v.version: v for v in client.search_model_versions(f"name = '{name}'")}
    assert sorted(versions) == ["1", "2"]
    aliases = client.get_registered_model(name).aliases
    assert aliases["champion"] == "1", "a worse challenger must not move champion"
    assert aliases["challenger"] == "2"
    assert "previous_champion" not in aliases
    rejected = versions["2"].tags
    assert rejected["mlops.decision"] == "rejected"
    assert "worse than champion v1" in rejected["mlops.gate"]
    assert float(rejected["mlops.score.champion"]) > float(rejected["mlops.score.candidate"])


def test_better_model_moves_champion_and_keeps_previous(mlflow_conn: str, private_model: Any,
                                                        load_dag: Any) -> None:
    name = private_model("credit_better", trainer=STUMP,
                         gate={"metric": "roc_auc", "minimum": 0.5, "max_regression": 0.01})
    assert str(load_dag("mlops_training").test().state) == "success"
    private_model(name, gate={"metric": "roc_auc", "minimum": 0.5, "max_regression": 0.01})
    assert str(load_dag("mlops_training").test().state) == "success"

    aliases = client_for(mlflow_conn).get_registered_model(name).aliases
    assert aliases["champion"] == "2"
    assert aliases["previous_champion"] == "1"


def test_one_model_failing_does_not_stop_the_others(mlflow_conn: str, private_model: Any,
                                                    load_dag: Any) -> None:
    good = private_model("credit_ok")
    bad = private_model("credit_broken", target="no_such_column")
    run = load_dag("mlops_training").test()

    got = states(run)
    assert got[f"{good}.promote"] == "success"
    assert got[f"{bad}.train"] == "failed"
    assert got[f"{bad}.register"] == "upstream_failed"
    assert not client_for(mlflow_conn).search_registered_models(f"name = '{bad}'")


def test_register_twice_in_one_dag_run_creates_one_version(mlflow_conn: str, private_model: Any,
                                                           load_dag: Any) -> None:
    """A retried register task (same DAG run) finds its version instead of creating a second."""
    from mlops_provider.operators.registry import RegisterModelOperator
    from mlops_provider.operators.training import TrainModelOperator

    name = private_model("credit_retry")
    context = {"run_id": "manual__retry-test", "ti": _XComSink()}
    training = TrainModelOperator(task_id="train", model=name).execute(context)
    retrained = TrainModelOperator(task_id="train", model=name).execute(context)
    assert retrained["run_id"] == training["run_id"] and retrained["reused"]

    register = RegisterModelOperator(task_id="register", model=name, training=training, reason="manual")
    first = register.execute(context)
    second = register.execute(context)

    assert (first["version"], first["created"]) == ("1", True)
    assert (second["version"], second["created"]) == ("1", False)
    versions = client_for(mlflow_conn).search_model_versions(f"name = '{name}'")
    assert len(versions) == 1
    assert versions[0].tags["mlops.reason"] == "manual"


class _XComSink:
    """The one TaskInstance method the operators call outside Airflow: pushing the link URL."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def test_failed_data_gate_trains_nothing_and_the_other_model_goes_on(
        mlflow_conn: str, private_model: Any, load_dag: Any, demo_data_dir: Path) -> None:
    from mlops_provider.demo.credit import generate

    corrupt = demo_data_dir / "credit_corrupt" / "train.parquet"
    corrupt.parent.mkdir(exist_ok=True)
    generate(2000, seed=3, corrupt=True).to_parquet(corrupt, index=False)
    good = private_model("credit_gate_ok")
    bad = private_model("credit_gate_bad", data={"train": "credit_corrupt/train.parquet",
                                                 "inference": "credit_gate_bad/inference"})
    run = load_dag("mlops_training").test()

    got = states(run)
    assert got[f"{bad}.validate"] == "failed"
    assert got[f"{bad}.train"] == "upstream_failed" and got[f"{bad}.promote"] == "upstream_failed"
    assert got[f"{good}.promote"] == "success"
    client = client_for(mlflow_conn)
    assert not client.search_registered_models(f"name = '{bad}'")
    experiment = client.get_experiment_by_name(f"mlops/{bad}")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    assert [r.data.tags.get("mlops.stage") for r in runs] == ["validation"], "only the validation run may exist"
    assert runs[0].data.tags["mlops.validation"] == "failed"
    summary = next(ti for ti in run.get_task_instances() if ti.task_id == f"{bad}.validate").xcom_pull(
        task_ids=f"{bad}.validate", key="validation_summary")
    assert "column 'region' unexpected values {'XX'}" in summary["message"]
