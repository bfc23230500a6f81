"""Operator extra links: each opens a URL the task stored in XCom (an MLflow run, version, report)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperatorLink

from mlops_provider.mlflow_urls import artifact_url

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey


class XComUrlLink(BaseOperatorLink):
    """A link whose URL the task pushed to XCom under `key` (empty until the task has run)."""

    name: ClassVar[str]
    key: ClassVar[str]

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(key=self.key, ti_key=ti_key)
        return value if isinstance(value, str) else ""

    @classmethod
    def persist(cls, context: Any, url: str) -> None:
        context["ti"].xcom_push(key=cls.key, value=url)


class MLflowRunLink(XComUrlLink):
    name = "MLflow run"
    key = "mlflow_run_url"


class MLflowModelVersionLink(XComUrlLink):
    name = "MLflow model version"
    key = "mlflow_model_version_url"


class DataDocsLink(XComUrlLink):
    name = "Data Docs"
    key = "data_docs_url"


class DriftReportLink(XComUrlLink):
    name = "Drift report"
    key = "drift_report_url"


class PassportLink(XComUrlLink):
    name = "Model passport"
    key = "passport_url"


__all__ = ["ALL_LINKS", "DataDocsLink", "DriftReportLink", "MLflowModelVersionLink", "MLflowRunLink",
           "PassportLink", "XComUrlLink", "artifact_url"]

ALL_LINKS = [MLflowRunLink, MLflowModelVersionLink, DataDocsLink, DriftReportLink, PassportLink]
