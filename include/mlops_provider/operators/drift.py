"""Operators of the drift monitor: the Evidently report of a checked window, and the drift asset event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_provider.links import DriftReportLink
from mlops_provider.operators.base import ModelOperator, fail_without_retry

DRIFT_ALIAS = "mlops_drift"
REPORT_REFERENCE_ROWS = 20_000


class ReportDriftOperator(ModelOperator):
    """Render Evidently's DataDriftPreset report (HTML and JSON) for the window a `DriftSensor` checked,
    against the served version's training data, and log both to MLflow (run `drift-report` in experiment
    `mlops/<model>`). The "Drift report" extra link opens it. Returns the check plus `report_url`.

    The verdict stays the engine's (in `check`); Evidently is the readable explanation.
    """

    template_fields = ("check",)
    template_fields_renderers = {"check": "json"}
    operator_extra_links = (DriftReportLink(),)

    def __init__(self, *, check: Any, model: str = "", **kwargs: Any) -> None:
        super().__init__(model=model, **kwargs)
        self.check = check

    def execute(self, context: Any) -> dict[str, Any]:
        from mlops_provider.config import load_model_config

        check = dict(self.check)
        with fail_without_retry():
            config = load_model_config(check["model"], check_paths=False)
        with self.hook.fluent() as client:
            run_id, experiment_id = log_report(config, client, check, dag_run_id=context["run_id"])
        url = f"{self.hook.run_url(experiment_id, run_id)}/artifacts"
        DriftReportLink.persist(context, url)
        self.log.info("Model %s drift report: %s", config.name, url)
        return {**check, "report_url": url, "report_run_id": run_id}


def log_report(config: Any, client: Any, check: dict[str, Any], *, dag_run_id: str) -> tuple[str, str]:
    """Run Evidently on (training data sample, checked windows) and log HTML + JSON; (run id, experiment id)."""
    import tempfile
    from pathlib import Path

    import mlflow
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from mlops_provider.data import read_table
    from mlops_provider.inference_log import list_windows
    from mlops_provider.monitoring import current_features, training_data_uri

    reference = read_table(training_data_uri(client, config, check["version"]), conn_id=config.data.conn_id,
                           what=f"model '{config.name}': training data")[config.features.all]
    if len(reference) > REPORT_REFERENCE_ROWS:
        reference = reference.sample(REPORT_REFERENCE_ROWS, random_state=0)
    wanted = set(check["windows"])
    windows = [w for w in list_windows(_folder(config)) if w.uri in wanted]
    current = current_features(config, windows)
    snapshot = Report([DataDriftPreset(drift_share=config.drift.drift_share)]).run(
        current_data=current, reference_data=reference)
    experiment = mlflow.set_experiment(config.experiment_name)
    tags = {"mlops.stage": "drift", "mlops.model": config.name, "mlops.dag_run_id": dag_run_id,
            "mlops.served_version": str(check["version"]), "mlops.drifted": str(check["drifted"]).lower()}
    with mlflow.start_run(run_name=f"drift-report-{config.name}", tags=tags) as run, \
            tempfile.TemporaryDirectory() as tmp:
        html, raw = Path(tmp) / "drift_report.html", Path(tmp) / "drift_report.json"
        snapshot.save_html(str(html))
        raw.write_text(snapshot.json())
        mlflow.log_artifact(str(html), artifact_path="drift")
        mlflow.log_artifact(str(raw), artifact_path="drift")
        mlflow.log_dict(check["result"], "drift/engine_result.json")
        mlflow.log_metrics({"drift_share": float(check["result"]["drift_share"]), "rows": float(check["rows"])})
    return run.info.run_id, experiment.experiment_id


def _folder(config: Any) -> str:
    from mlops_provider.inference_log import inference_uri

    return str(inference_uri(config))


class EmitDriftEventOperator(ModelOperator):
    """On drift, emit the `x-mlops://<model>/drift` asset event with the drift summary as its extra; the
    retraining DAG runs on it. A per-model cooldown (`drift.cooldown_minutes`) keeps one drift episode
    from emitting again and again: the time of the last event is kept in the Airflow Variable
    `mlops_drift_last_event__<model>`. Returns `{model, drifted, emitted, reason}`.
    """

    template_fields = ("check",)
    template_fields_renderers = {"check": "json"}

    def __init__(self, *, check: Any, model: str = "", **kwargs: Any) -> None:
        from airflow.sdk import AssetAlias

        kwargs.setdefault("outlets", [AssetAlias(DRIFT_ALIAS)])
        super().__init__(model=model, **kwargs)
        self.check = check

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk import AssetAlias, Variable

        from mlops_provider.assets import drift_asset
        from mlops_provider.config import load_model_config
        from mlops_provider.monitoring import drift_summary

        check = dict(self.check)
        model = check["model"]
        if not check["drifted"]:
            self.log.info("Model %s: no dataset drift (%s)", model, check["result"]["summary"])
            return {"model": model, "drifted": False, "emitted": False, "reason": "no drift"}
        with fail_without_retry():
            config = load_model_config(model, check_paths=False)
        key = f"mlops_drift_last_event__{model}"
        now = datetime.now(UTC)
        last = Variable.get(key, default=None)
        cooldown = timedelta(minutes=config.drift.cooldown_minutes)
        if last and now - datetime.fromisoformat(last) < cooldown:
            reason = (f"drift found but the last drift event was at {last}, within the cooldown of "
                      f"{config.drift.cooldown_minutes} minutes: not emitting again")
            self.log.warning("Model %s: %s", model, reason)
            return {"model": model, "drifted": True, "emitted": False, "reason": reason}
        summary = drift_summary(check)
        context["outlet_events"][AssetAlias(DRIFT_ALIAS)].add(drift_asset(model), extra=summary)
        Variable.set(key, now.isoformat())
        self.log.info("Model %s: drift event emitted: %s", model, summary["summary"])
        return {"model": model, "drifted": True, "emitted": True, "reason": summary["summary"]}
