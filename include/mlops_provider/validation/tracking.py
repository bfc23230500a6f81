"""Log a validation report to MLflow: the full GE result and its Data Docs page, in a small `validate` run.

Plain MLflow; the caller points MLflow at a tracking server (see `MLflowHook.fluent`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_provider.tracking import TAG_DAG_RUN, TAG_DIGEST, TAG_MODEL, TAG_STAGE, TAG_VALIDATION, find_stage_run

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_provider.validation.engine import ValidationReport

TAG_SUITE = "mlops.suite"
TAG_DATA_URI = "mlops.data_uri"
STAGE = "validation"
RUN_NAME = "validate"
ARTIFACT_DIR = "validation"
RESULT_ARTIFACT = f"{ARTIFACT_DIR}/result.json"
SUMMARY_ARTIFACT = f"{ARTIFACT_DIR}/summary.json"
DATA_DOCS_ARTIFACT = f"{ARTIFACT_DIR}/data_docs.html"


def find_validation_run(client: MlflowClient, experiment_id: str, dag_run_id: str, digest: str) -> Any | None:
    """The run in which this DAG run already validated this data (a retry logs into it again)."""
    return find_stage_run(client, experiment_id, stage=STAGE, dag_run_id=dag_run_id, digest=digest)


def log_report(report: ValidationReport, client: MlflowClient, *, experiment_name: str, dag_run_id: str,
               data_uri: str, digest: str) -> dict[str, Any]:
    """Log `report` into a `validate` run of `experiment_name`; returns its ids and the result's URI."""
    import mlflow

    experiment = mlflow.set_experiment(experiment_name)
    existing = find_validation_run(client, experiment.experiment_id, dag_run_id, digest)
    # tags, not params: a retry may log again into the same run, and params cannot change
    tags = {TAG_DAG_RUN: dag_run_id, TAG_STAGE: STAGE, TAG_DIGEST: digest, TAG_MODEL: report.model,
            TAG_VALIDATION: "passed" if report.success else "failed", TAG_SUITE: report.suite,
            TAG_DATA_URI: data_uri[:5000]}
    run_id = existing.info.run_id if existing is not None else None
    with mlflow.start_run(run_id=run_id, run_name=None if run_id else RUN_NAME, tags=tags) as run:
        if run_id:
            mlflow.set_tags(tags)  # start_run only applies tags to new runs
        mlflow.log_metrics({"expectations_evaluated": report.evaluated, "expectations_failed": report.failed})
        mlflow.log_dict(report.result, RESULT_ARTIFACT)
        mlflow.log_dict({**report.summary, "message": report.message, "data_uri": data_uri,
                         "data_digest": digest}, SUMMARY_ARTIFACT)
        if report.data_docs is not None:
            _log_as(report.data_docs, DATA_DOCS_ARTIFACT)
    return {
        "run_id": run.info.run_id,
        "experiment_id": experiment.experiment_id,
        "result_uri": f"runs:/{run.info.run_id}/{RESULT_ARTIFACT}",
        "data_docs_artifact": DATA_DOCS_ARTIFACT if report.data_docs is not None else None,
        "reused": existing is not None,
    }


def _log_as(path: Path, artifact: str) -> None:
    """Log a local file under an artifact path of our choosing (mlflow keeps the file's own name)."""
    import mlflow

    folder, _, name = artifact.rpartition("/")
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / name
        shutil.copyfile(path, target)
        mlflow.log_artifact(str(target), artifact_path=folder or None)
