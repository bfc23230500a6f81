"""ReportDriftOperator and EmitDriftEventOperator on a no-drift check; the report against a real MLflow server."""

from __future__ import annotations

from typing import Any

from airflow.sdk import AssetAlias

from mlops_provider.operators.drift import DRIFT_ALIAS, EmitDriftEventOperator, ReportDriftOperator

NO_DRIFT = {"drift_share": 0.0, "columns": {}, "summary": "0 of 7 columns drifted (share 0.00 < 0.50)"}


class TaskInstanceXCom:
    """The one part of a task instance the operators use outside `dag.test()`: `xcom_push`."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def test_emit_stores_the_check_and_emits_on_the_drift_alias() -> None:
    operator = EmitDriftEventOperator(task_id="emit", check={"model": "toy"})

    assert operator.check == {"model": "toy"} and operator.template_fields == ("check",)
    assert operator.outlets == [AssetAlias(DRIFT_ALIAS)]


def test_no_drift_emits_nothing_and_says_so() -> None:
    check = {"model": "toy", "drifted": False, "result": NO_DRIFT}
    outlet_events: dict[Any, Any] = {}

    result = EmitDriftEventOperator(task_id="emit", check=check).execute({"outlet_events": outlet_events})

    assert result == {"model": "toy", "drifted": False, "emitted": False, "reason": "no drift"}
    assert outlet_events == {}


def test_report_stores_the_check_and_links_the_report() -> None:
    operator = ReportDriftOperator(task_id="report", check={"model": "toy"})

    assert operator.check == {"model": "toy"} and operator.template_fields == ("check",)
    assert [link.name for link in operator.operator_extra_links] == ["Drift report"]


def test_report_of_a_no_drift_check_is_logged_and_linked(mlflow_conn: str, private_model: Any) -> None:
    from mlflow import MlflowClient

    from mlops_provider.demo.traffic import send_traffic
    from tests.helpers.trained_versions import register_versions

    model = private_model("report_no_drift")
    [version] = register_versions(model, mlflow_conn, [50])
    client = MlflowClient(tracking_uri=mlflow_conn, registry_uri=mlflow_conn)
    client.set_registered_model_alias(model, "champion", version)
    window = send_traffic(model, tracking_uri=mlflow_conn, rows=200, drift=0.0, via_server=False)["window"]
    check = {"model": model, "version": version, "windows": [window], "rows": 200, "drifted": False,
             "result": NO_DRIFT}
    ti = TaskInstanceXCom()

    result = ReportDriftOperator(task_id="report", check=check).execute({"run_id": "manual__unit", "ti": ti})

    assert result["report_url"].endswith("/artifacts/drift/drift_report.html") and result["drifted"] is False
    assert ti.pushed == {"drift_report_url": result["report_url"]}
    run = client.get_run(result["report_run_id"])
    assert run.data.tags["mlops.drifted"] == "false" and run.data.tags["mlops.dag_run_id"] == "manual__unit"
    assert run.data.metrics == {"drift_share": 0.0, "rows": 200.0}
    artifacts = {a.path for a in client.list_artifacts(result["report_run_id"], "drift")}
    assert artifacts == {"drift/drift_report.html", "drift/drift_report.json", "drift/engine_result.json"}
