"""The MLflow UI addresses the package links to: a run, a model version, one artifact file of a run. No Airflow
import, so the CLI and the Models page build the same URLs as the operators' extra links."""

from __future__ import annotations

from urllib.parse import quote


def run_url(ui_url: str, experiment_id: str, run_id: str) -> str:
    """The MLflow UI page of a run; `ui_url` is the address a browser uses (the connection's `ui_url`)."""
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def model_version_url(ui_url: str, model: str, version: str | int) -> str:
    """The MLflow UI page of one registered model version."""
    return f"{ui_url.rstrip('/')}/#/models/{quote(model, safe='')}/versions/{version}"


def artifact_url(run_url: str, path: str) -> str:
    """The MLflow UI page that opens one artifact file of a run (`path`, e.g. `drift/drift_report.html`) and renders
    it, HTML included; the same route MLflow's UI builds (`getRunPageRoute(experiment, run, artifactPath)`).
    `run_url` is `run_url(...)`. Without `path` the page lists the run's artifacts instead."""
    return f"{run_url}/artifacts/{path.strip('/')}"
