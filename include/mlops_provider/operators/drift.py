"""Operators of the drift monitor: the Evidently report of a checked window, and the drift asset event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.links import DriftReportLink, artifact_url
from mlops_provider.operators.base import ModelOperator, fail_without_retry

if TYPE_CHECKING:
    from mlops_provider.xcom import DriftCheck

DRIFT_ALIAS = "mlops_drift"


class ReportDriftOperator(ModelOperator):
    """Render Evidently's DataDriftPreset report (HTML and JSON) for the window a `DriftSensor` checked,
    against the served version's training data, and log both to MLflow (run `drift-report` in experiment
    `mlops/<model>`). The "Drift report" extra link opens the HTML report in MLflow's UI. Returns the check
    plus `report_url`.

    The verdict stays the engine's (in `check`); Evidently is the readable explanation.

    :param check: the result of `DriftSensor` (templated).
    :param model: not needed: the model is read from `check`.
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("check",)
    template_fields_renderers = {"check": "json"}
    operator_extra_links = (DriftReportLink(),)

    def __init__(self, *, check: Any, model: str = "", **kwargs: Any) -> None:
        super().__init__(model=model, **kwargs)
        self.check = check

    def execute(self, context: Any) -> dict[str, Any]:
        from mlops_provider.config import load_model_config
        from mlops_provider.drift_report import REPORT_ARTIFACT, log_drift_report

        check = dict(self.check)
        with fail_without_retry():
            config = load_model_config(check["model"], check_paths=False)
        with self.hook.fluent() as client:
            run_id, experiment_id = log_drift_report(config, client, check, dag_run_id=context["run_id"])
        url = artifact_url(self.hook.run_url(experiment_id, run_id), REPORT_ARTIFACT)
        DriftReportLink.persist(context, url)
        self.log.info("Model %s drift report: %s", config.name, url)
        return {**check, "report_url": url, "report_run_id": run_id}


class EmitDriftEventOperator(ModelOperator):
    """On drift, emit the `x-mlops://<model>/drift` asset event with the drift summary as its extra; the
    retraining DAG runs on it. A per-model cooldown (`drift.cooldown_minutes`) keeps one drift episode
    from emitting again and again: it counts from the model's last drift event that Airflow recorded, read
    back through the `mlops_drift` alias (an inlet of this task). Returns `{model, drifted, emitted, reason}`.

    :param check: the result of `ReportDriftOperator` (or `DriftSensor`) (templated).
    :param model: not needed: the model is read from `check`.
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("check",)
    template_fields_renderers = {"check": "json"}

    def __init__(self, *, check: Any, model: str = "", **kwargs: Any) -> None:
        from airflow.sdk import AssetAlias

        kwargs.setdefault("outlets", [AssetAlias(DRIFT_ALIAS)])
        super().__init__(model=model, **kwargs)
        self.check = check

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk import AssetAlias

        from mlops_provider.assets import drift_asset
        from mlops_provider.config import load_model_config
        from mlops_provider.cooldown import drift_event_block
        from mlops_provider.monitoring import drift_summary
        from mlops_provider.operators.alerting import alert

        check: DriftCheck = self.check
        model = check["model"]
        if not check["drifted"]:
            self.log.info("Model %s: no dataset drift (%s)", model, check["result"]["summary"])
            return {"model": model, "drifted": False, "emitted": False, "reason": "no drift"}
        with fail_without_retry():
            config = load_model_config(model, check_paths=False)
        now = datetime.now(UTC)
        since = now - timedelta(minutes=config.drift.cooldown_minutes)
        reason = drift_event_block(model, last_event=self._last_event(drift_asset(model).uri, since),
                                   cooldown_minutes=config.drift.cooldown_minutes, now=now)
        if reason:
            self.log.warning("Model %s: %s", model, reason)
            return {"model": model, "drifted": True, "emitted": False, "reason": reason}
        summary = drift_summary(check)
        context["outlet_events"][AssetAlias(DRIFT_ALIAS)].add(drift_asset(model), extra=summary)
        self.log.info("Model %s: drift event emitted: %s", model, summary["summary"])
        alert(self, context, config, kind="drift", summary=f"data drift in the inputs of v{check['version']}; "
              "retraining requested", versions={"served": check["version"]},
              numbers={"drift share": summary["drift_share"], "rows": summary["rows"]},
              links={"Drift report": check["report_url"]} if check.get("report_url") else {},
              details=summary["summary"])
        return {"model": model, "drifted": True, "emitted": True, "reason": summary["summary"]}

    @staticmethod
    def _last_event(uri: str, since: datetime) -> str | None:
        """The time of the newest drift event of `uri` since `since` that Airflow recorded, or None.

        The cooldown must start only once an event is durable, and Airflow records a task's outlet events
        only when the task instance succeeds. A cooldown kept apart (a Variable written in `execute`) would
        start even when the try then died before succeeding, and silence that drift episode for the whole
        cooldown; reading the recorded events back makes the event and its cooldown one fact.

        Read through the alias, not `context["inlet_events"]`: a mapped task's context is built from the
        mapped task's inlets, so an inlet this operator added to itself would not be there; and by the
        alias rather than the asset, whose events Airflow returns only while a DAG schedules on it."""
        from airflow.sdk.execution_time.context import InletEventsAccessor

        events = InletEventsAccessor(alias_name=DRIFT_ALIAS).after(since.isoformat())
        times = [event.timestamp for event in events if event.asset.uri == uri]
        return max(times).isoformat() if times else None
