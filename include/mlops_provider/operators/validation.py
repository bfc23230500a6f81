"""Operator that gates a model's training batch on its Great Expectations suite."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlops_provider.links import DataDocsLink, artifact_url
from mlops_provider.operators.base import ModelOperator, fail_without_retry

if TYPE_CHECKING:
    from mlops_provider.validation.engine import ResultFormat

SUMMARY_XCOM_KEY = "validation_summary"


class ValidateDataOperator(ModelOperator):
    """Validate a batch of `model`'s data against ``include/expectations/<model>.json``.

    The full result (JSON) and the rendered Data Docs page are logged to a ``validate`` run in experiment
    ``mlops/<model>``; the "Data Docs" extra link opens the page.

    Returns ``{model, success, evaluated, failed, failures, message, data_digest, data_uri, data_time,
    result_uri, run_id, data_docs_url}``. When expectations fail, the same dict goes to XCom under
    ``validation_summary`` and the task fails without retry (the data will not change), with a message
    naming each failed column and what was wrong. Bad input (missing or unreadable file, invalid suite)
    also fails without retry; infrastructure errors (storage, MLflow unreachable) are retried.

    :param model: name of the model's config file in `include/models/` (templated).
    :param data: the batch to validate, any URI ``ObjectStoragePath`` reads (``file://``, ``s3://``, a local
        path); default the model's training set as training assembles it (``data.train``, its window and the
        labelled production rows, as of the DAG run's logical date) (templated).
    :param result_format: Great Expectations' result format: BASIC (the default) carries everything the
        failure message quotes; SUMMARY and COMPLETE add per-value counts and row indexes to the logged
        result at a cost (see ``bench/validation.py``).
    :param mlflow_conn_id: the MLflow connection (conn type `mlflow`).
    """

    template_fields = ("model", "data")
    operator_extra_links = (DataDocsLink(),)
    ui_color = "#e8f4e4"

    def __init__(self, *, data: str | None = None, result_format: ResultFormat = "BASIC", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if result_format not in ("BASIC", "SUMMARY", "COMPLETE"):
            raise ValueError(f"result_format must be BASIC, SUMMARY or COMPLETE, got {result_format!r}")
        self.data = data
        self.result_format = result_format

    def execute(self, context: Any) -> dict[str, Any]:
        import tempfile

        from mlops_provider.config import load_model_config
        from mlops_provider.exceptions import ValidationFailed
        from mlops_provider.training_data import data_to_validate, run_time
        from mlops_provider.validation.engine import validate_frame
        from mlops_provider.validation.suite import load_suite
        from mlops_provider.validation.tracking import log_report

        with fail_without_retry():
            config = load_model_config(self.model, check_paths=False)  # read_table names a missing file
            suite = load_suite(config.suite_path)
            batch = data_to_validate(config, self.data, now=run_time(context))  # what training will read
        frame, uri, digest = batch.frame, batch.uri, batch.digest
        self.log.info("Validating %d rows of %s (%s) against %s (%d expectations)", len(frame), uri, batch.summary,
                      config.suite_path, len(suite.expectations))
        with tempfile.TemporaryDirectory(prefix="mlops-data-docs-") as docs_dir:
            report = validate_frame(frame, suite, model=config.name, result_format=self.result_format,
                                    data_docs_dir=docs_dir)
            summary = {**report.summary, "message": report.message, "data_digest": digest, "data_uri": str(uri),
                       "data_time": batch.now.isoformat()}
            if not report.success:  # before MLflow: an MLflow outage retries the task, the verdict is known
                self.log.error("%s", report.message)
                context["ti"].xcom_push(key=SUMMARY_XCOM_KEY, value=summary)
            with self.hook.fluent() as client:
                logged = log_report(report, client, experiment_name=config.experiment_name,
                                    dag_run_id=context["run_id"], data_uri=str(uri), digest=digest)
        run_url = self.hook.run_url(logged["experiment_id"], logged["run_id"])
        url = artifact_url(run_url, logged["data_docs_artifact"])
        DataDocsLink.persist(context, url)
        summary.update(result_uri=logged["result_uri"], run_id=logged["run_id"], data_docs_url=url)
        self.log.info("Validation summary: %s", json.dumps(summary, default=str))
        if not report.success:
            context["ti"].xcom_push(key=SUMMARY_XCOM_KEY, value=summary)
            with fail_without_retry():
                raise ValidationFailed(report.message, summary)
        self.log.info("%s; Data Docs: %s", report.message, url)
        return summary
