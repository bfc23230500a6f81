"""The Evidently drift report of a checked inference window, against the served version's training data.

The verdict stays the drift engine's (in the check); Evidently's DataDriftPreset report is the readable
explanation, logged to MLflow as HTML and JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig

ARTIFACT_DIR = "drift"
REPORT_ARTIFACT = f"{ARTIFACT_DIR}/drift_report.html"  # what the "Drift report" link opens
REPORT_REFERENCE_ROWS = 20_000  # a larger training set is sampled down: the report's cost grows with it


def log_drift_report(config: ModelConfig, client: MlflowClient, check: dict[str, Any], *,
                     dag_run_id: str) -> tuple[str, str]:
    """Run Evidently on (training data sample, checked windows), log HTML (`REPORT_ARTIFACT`) + JSON to a
    `drift-report-<model>` run of experiment `mlops/<model>`; returns (run id, experiment id)."""
    import tempfile
    from pathlib import Path

    import mlflow
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from mlops_provider.inference_log import windows_at
    from mlops_provider.monitoring import current_features, training_data_uri
    from mlops_provider.training_data import read_training_data

    # a file, or every partition of a training folder
    reference = read_training_data(training_data_uri(client, config, check["version"]), conn_id=config.data.conn_id,
                                   what=f"model '{config.name}': training data")[config.features.all]
    if len(reference) > REPORT_REFERENCE_ROWS:
        reference = reference.sample(REPORT_REFERENCE_ROWS, random_state=0)
    windows = windows_at(check["windows"], conn_id=config.data.conn_id)
    current = current_features(config, windows)
    snapshot = Report([DataDriftPreset(drift_share=config.drift.drift_share)]).run(
        current_data=current, reference_data=reference)
    experiment = mlflow.set_experiment(config.experiment_name)
    tags = {"mlops.stage": "drift", "mlops.model": config.name, "mlops.dag_run_id": dag_run_id,
            "mlops.served_version": str(check["version"]), "mlops.drifted": str(check["drifted"]).lower()}
    with mlflow.start_run(run_name=f"drift-report-{config.name}", tags=tags) as run, \
            tempfile.TemporaryDirectory() as tmp:
        html, raw = Path(tmp) / REPORT_ARTIFACT.rpartition("/")[2], Path(tmp) / "drift_report.json"
        snapshot.save_html(str(html))  # self-contained: Evidently inlines its scripts and styles
        raw.write_text(snapshot.json())
        mlflow.log_artifact(str(html), artifact_path=ARTIFACT_DIR)
        mlflow.log_artifact(str(raw), artifact_path=ARTIFACT_DIR)
        mlflow.log_dict(check["result"], f"{ARTIFACT_DIR}/engine_result.json")
        mlflow.log_metrics({"drift_share": float(check["result"]["drift_share"]), "rows": float(check["rows"])})
    return run.info.run_id, experiment.experiment_id
