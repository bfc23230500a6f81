"""ValidateDataOperator against a real MLflow server: the shipped suites, artifacts, the no-retry failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.helpers.dag_db import write_to_db
from tests.helpers.html_refs import external_loads

pytest.importorskip("great_expectations")

MODEL = "credit_default"


class FakeTaskInstance:
    """What the operator touches on `context["ti"]`: XCom pushes."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def run_operator(run_id: str, **kwargs: Any) -> tuple[dict[str, Any], FakeTaskInstance]:
    from mlops_provider.operators.validation import ValidateDataOperator

    ti = FakeTaskInstance()
    operator = ValidateDataOperator(task_id="validate", model=MODEL, **kwargs)
    return operator.execute({"run_id": run_id, "ti": ti}), ti


def artifacts_of(tracking_uri: str, run_id: str) -> set[str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    return {item.path for item in client.list_artifacts(run_id, "validation")}


def validation_runs(tracking_uri: str, dag_run_id: str) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(f"mlops/{MODEL}")
    assert experiment is not None
    return client.search_runs([experiment.experiment_id],
                              filter_string=f"tags.`mlops.dag_run_id` = '{dag_run_id}'")


def test_dag_test_validates_the_training_batch(airflow_db: Path, demo_env: Path, mlflow_conn: str) -> None:
    from airflow.sdk import DAG

    from mlops_provider.operators.validation import ValidateDataOperator

    with DAG("test_data_validation", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        ValidateDataOperator(task_id="validate", model=MODEL)
    write_to_db(dag)
    dag_run = dag.test()

    assert dag_run.state == "success"
    runs = validation_runs(mlflow_conn, dag_run.run_id)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_name == "validate"
    assert run.data.tags["mlops.stage"] == "validation"
    assert run.data.tags["mlops.validation"] == "passed"
    assert artifacts_of(mlflow_conn, run.info.run_id) == {
        "validation/result.json", "validation/summary.json", "validation/data_docs.html"}


def test_success_returns_summary_and_logs_artifacts(tmp_path: Path, demo_env: Path, mlflow_conn: str) -> None:
    result, ti = run_operator("manual__ok")

    assert result["success"] is True
    assert result["evaluated"] == 44 and result["failed"] == 0
    assert len(result["data_digest"]) == 16
    assert result["result_uri"] == f"runs:/{result['run_id']}/validation/result.json"
    assert ti.xcom["data_docs_url"].endswith(f"/runs/{result['run_id']}/artifacts/validation/data_docs.html")
    assert "validation_summary" not in ti.xcom
    assert "validation/data_docs.html" in artifacts_of(mlflow_conn, result["run_id"])

    logged = json.loads(download(mlflow_conn, result["run_id"], "validation/result.json", tmp_path).read_text())
    assert logged["success"] is True and logged["statistics"]["evaluated_expectations"] == 44
    page = download(mlflow_conn, result["run_id"], "validation/data_docs.html", tmp_path).read_text()
    assert "Evaluated Expectations" in page and "values must" in page  # rendered by GE, not by us
    assert external_loads(page) == [], "the logged page must render without the internet"


def download(tracking_uri: str, run_id: str, path: str, folder: Path) -> Path:
    from mlflow import MlflowClient

    return Path(MlflowClient(tracking_uri=tracking_uri).download_artifacts(run_id, path, str(folder)))


def test_retry_of_the_same_dag_run_reuses_its_run(demo_env: Path, mlflow_conn: str) -> None:
    first, _ = run_operator("manual__retry")
    second, _ = run_operator("manual__retry")

    assert second["run_id"] == first["run_id"]
    assert len(validation_runs(mlflow_conn, "manual__retry")) == 1


def test_failed_expectations_fail_without_retry(tmp_path: Path, demo_env: Path, mlflow_conn: str) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from mlops_provider.demo import credit

    corrupt = tmp_path / "corrupt.csv"
    credit.generate(3000, seed=3, corrupt=True).to_csv(corrupt, index=False)

    with pytest.raises(AirflowFailException) as failure:
        run_operator("manual__corrupt", data=f"file://{corrupt}")

    message = str(failure.value)
    assert message.startswith("model 'credit_default': 3 of 44 expectations failed: ")
    assert "column 'age' 3 values outside [18, 100] (e.g. " in message
    assert "column 'income' " in message and "% null (max 12%)" in message
    assert "column 'region' unexpected values {'XX'}" in message
    ti_summary = failure.value.__cause__.summary  # type: ignore[union-attr]
    assert ti_summary["failed"] == 3
    runs = validation_runs(mlflow_conn, "manual__corrupt")
    assert runs[0].data.tags["mlops.validation"] == "failed"
    assert artifacts_of(mlflow_conn, runs[0].info.run_id) >= {"validation/result.json",
                                                               "validation/data_docs.html"}


def test_failure_pushes_the_summary_to_xcom(tmp_path: Path, demo_env: Path, mlflow_conn: str) -> None:
    import pandas as pd
    from airflow.sdk.exceptions import AirflowFailException

    from mlops_provider.operators.validation import ValidateDataOperator

    bad = tmp_path / "extra.parquet"
    pd.read_parquet(demo_env / MODEL / "train.parquet").assign(foo=1).to_parquet(bad)
    ti = FakeTaskInstance()
    operator = ValidateDataOperator(task_id="validate", model=MODEL, data=str(bad))
    with pytest.raises(AirflowFailException, match=r"unexpected column\(s\) \['foo'\]"):
        operator.execute({"run_id": "manual__extra", "ti": ti})

    summary = ti.xcom["validation_summary"]
    assert summary["success"] is False and summary["failed"] == 1
    assert summary["failures"] == ["unexpected column(s) ['foo']"]
    assert summary["result_uri"].startswith("runs:/")
    assert "data_docs_url" in ti.xcom


def test_bad_input_fails_without_retry_and_logs_nothing(tmp_path: Path, demo_env: Path, mlflow_conn: str) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match=r"nowhere\.parquet does not exist"):
        run_operator("manual__missing", data=str(tmp_path / "nowhere.parquet"))
    assert validation_runs(mlflow_conn, "manual__missing") == []


def test_unreachable_mlflow_is_retried(demo_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from mlops_provider.exceptions import RegistryError
    from mlops_provider.operators.validation import ValidateDataOperator

    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps({"conn_type": "mlflow", "host": "http://127.0.0.1:9"}))
    operator = ValidateDataOperator(task_id="validate", model=MODEL)
    operator.hook.probe_attempts = 1
    with pytest.raises(RegistryError) as raised:
        operator.execute({"run_id": "manual__down", "ti": FakeTaskInstance()})
    assert not isinstance(raised.value, AirflowFailException)


def test_failed_validation_with_mlflow_down_pushes_the_summary_and_retries(
        tmp_path: Path, demo_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    from mlops_provider.exceptions import RegistryError
    from mlops_provider.operators.validation import ValidateDataOperator

    bad = tmp_path / "no_income.parquet"
    pd.read_parquet(demo_env / MODEL / "train.parquet").drop(columns=["income"]).to_parquet(bad)
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps({"conn_type": "mlflow", "host": "http://127.0.0.1:9"}))
    operator = ValidateDataOperator(task_id="validate", model=MODEL, data=str(bad))
    operator.hook.probe_attempts = 1
    ti = FakeTaskInstance()
    with pytest.raises(RegistryError):
        operator.execute({"run_id": "manual__down_and_bad", "ti": ti})
    assert ti.xcom["validation_summary"]["failures"] == ["column 'income' is missing"]
