"""What the Models page and `mlops models` show: one row per configured model, read from the MLflow registry.

Plain MLflow client calls, no Airflow import. Round trips: one `search_experiments` for all models, then per model
one `search_model_versions` (gate tags and production checks ride on the versions), one `get_registered_model`
(its aliases) and two `search_runs` with `max_results=1` (the newest drift report, the newest training run): the
drift monitor logs a report every hour, so one search for both would page through weeks of reports to find the
weekly training run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlops_provider.cockpit.text import when
from mlops_provider.drift_report import REPORT_ARTIFACT
from mlops_provider.exceptions import ConfigError
from mlops_provider.mlflow_urls import artifact_url, model_version_url, run_url
from mlops_provider.tracking import (
    CHALLENGER,
    CHAMPION,
    TAG_APPROVAL,
    TAG_ARCHIVED,
    TAG_ARCHIVED_WHY,
    TAG_CHAMPION_AT_DECISION,
    TAG_DAG_RUN,
    TAG_DECISION,
    TAG_DEPRECATED,
    TAG_GATE,
    TAG_METRIC,
    TAG_MONITOR,
    TAG_REASON,
    TAG_RETIRED,
    TAG_SCORE_CANDIDATE,
    TAG_SCORE_CHAMPION,
    TAG_STAGE,
    TAG_VALIDATION,
    serving_alias,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig

# Version tags of `registry.record_failure` (a failed deploy) and run tags of the drift report
# (`drift_report.log_drift_report`); those modules write them as literals.
DEPLOY_FAILED_PREFIX, DEPLOY_FAILED_SUFFIX = "mlops.deploy.", ".failed"
TAG_DRIFTED, TAG_SERVED_VERSION = "mlops.drifted", "mlops.served_version"
MONITOR_KEYS = ("realized", "estimated", "metric", "n_labels", "verdict", "at")
SERVING_PREFIX = serving_alias("")


@dataclass(frozen=True)
class Links:
    """Where a browser reaches MLflow's UI and Airflow's UI (`airflow_url` may be a path: the page's own origin)."""

    mlflow_ui: str
    airflow: str = ""

    def version(self, model: str, version: str) -> str:
        return model_version_url(self.mlflow_ui, model, version)

    def run(self, experiment_id: str, run_id: str) -> str:
        return run_url(self.mlflow_ui, experiment_id, run_id)

    def dag_run(self, dag_run_id: str) -> str:
        """Airflow's list of DAG runs filtered to this run id: the id alone does not say which DAG ran it
        (`mlops_training` or `mlops_retraining`), and the list opens the run in one click."""
        return f"{self.airflow.rstrip('/')}/dag_runs?run_id_pattern={quote(dag_run_id, safe='')}"


@dataclass(frozen=True)
class BrokenConfig:
    """A model config that did not load: shown as a row with its error."""

    name: str
    error: str


@dataclass(frozen=True)
class VersionRef:
    """One version in a role (champion, challenger): its gate score and when it was registered."""

    version: str
    url: str
    created: str | None
    metric: str | None = None
    score: float | None = None


@dataclass(frozen=True)
class DriftVerdict:
    """The newest drift report run: the engine's verdict on the served version's traffic."""

    drifted: bool | None
    drift_share: float | None
    version: str | None
    at: str | None
    report_url: str
    dag_run_id: str | None
    airflow_url: str | None


@dataclass(frozen=True)
class ProductionCheck:
    """The newest production check the monitor recorded on a version (version tag `mlops.monitor`)."""

    version: str
    realized: float | None = None
    estimated: float | None = None
    metric: str | None = None
    n_labels: int | None = None
    verdict: str | None = None
    at: str | None = None


@dataclass(frozen=True)
class Retraining:
    """The newest training run of the model and why it ran; the version it registered, if it got that far."""

    reason: str | None
    status: str
    at: str | None
    run_url: str
    dag_run_id: str | None
    airflow_url: str | None
    version: str | None
    decision: str | None


@dataclass(frozen=True)
class ModelRow:
    model: str
    description: str = ""
    error: str | None = None
    target: str | None = None
    champion: VersionRef | None = None
    challenger: VersionRef | None = None
    serving: dict[str, str] = field(default_factory=dict)  # deployment target -> version it serves
    drift: DriftVerdict | None = None
    production: ProductionCheck | None = None
    retraining: Retraining | None = None
    versions: int = 0
    pending_approvals: list[str] = field(default_factory=list)  # versions waiting for a person's sign-off
    lifecycle: str | None = None  # "retired" or "deprecated" (`mlops_lifecycle`'s phases), else None
    lifecycle_detail: str = ""  # when it retired, or when serving stops and what replaces it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VersionDetail:
    """One version on the per-model page: its aliases and what the gate decided."""

    version: str
    url: str
    created: str | None
    aliases: list[str]
    reason: str | None
    dag_run_id: str | None
    airflow_url: str | None
    validation: str | None
    decision: str | None
    gate: str | None
    metric: str | None
    score: float | None
    champion_score: float | None
    champion_at_decision: str | None
    deploy_failures: dict[str, str]
    run_url: str | None
    archived: str | None = None  # "<when>: <why>" once `mlops_lifecycle` archived it, else None


@dataclass(frozen=True)
class ModelDetail:
    row: ModelRow
    versions: list[VersionDetail]
    history: list[dict[str, Any]] = field(default_factory=list)  # alias moves, newest first (`mlops history`)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_configs() -> list[ModelConfig | BrokenConfig]:
    """Every config in `settings.models_dir()`, a broken one as `BrokenConfig` (its error, not a crash)."""
    from mlops_provider.config import load_model_config
    from mlops_provider.settings import model_names

    configs: list[ModelConfig | BrokenConfig] = []
    for name in model_names():
        try:
            configs.append(load_model_config(name, check_paths=False))
        except ConfigError as err:
            configs.append(BrokenConfig(name, str(err)))
    return configs


def model_rows(client: MlflowClient, configs: Sequence[ModelConfig | BrokenConfig], *, links: Links
               ) -> list[ModelRow]:
    """One row per config; a broken config or a model MLflow could not answer for is a row with its error."""
    from mlops_provider.config import ModelConfig

    good = [c for c in configs if isinstance(c, ModelConfig)]
    experiments = _experiment_ids(client, good) if good else {}
    rows = []
    for config in configs:
        if not isinstance(config, ModelConfig):
            rows.append(ModelRow(model=config.name, error=config.error))
            continue
        try:
            rows.append(_row(client, config, experiments, links)[0])
        except Exception as err:  # one model's registry trouble must not hide the others
            rows.append(ModelRow(model=config.name, description=config.description, target=config.deploy.target,
                                 error=f"MLflow could not be read for model '{config.name}': {_short(err)}"))
    return rows


def model_detail(client: MlflowClient, config: ModelConfig, *, links: Links) -> ModelDetail:
    """The model's row plus every version, newest first, with its aliases and gate decision."""
    experiments = _experiment_ids(client, [config])
    row, versions = _row(client, config, experiments, links)
    experiment = experiments.get(config.name)
    return ModelDetail(row=row, versions=[_version_detail(config.name, v, experiment, links) for v in versions],
                       history=_history(client, config.name))


def _history(client: MlflowClient, model: str, limit: int = 50) -> list[dict[str, Any]]:
    """The model's newest alias moves; an unreadable history is one entry saying so, not a failed page."""
    from mlops_provider.history import read_history

    try:
        entries = read_history(client, model)
    except Exception as err:  # the page still shows the versions
        return [{"error": f"the alias history could not be read: {_short(err)}"}]
    return [entry.to_dict() for entry in reversed(entries[-limit:])]


def _experiment_ids(client: MlflowClient, configs: Sequence[ModelConfig]) -> dict[str, str]:
    wanted = {c.experiment_name: c.name for c in configs}
    found = client.search_experiments(filter_string="name LIKE 'mlops/%'", max_results=1000)
    return {wanted[e.name]: str(e.experiment_id) for e in found if e.name in wanted}


def _row(client: MlflowClient, config: ModelConfig, experiments: dict[str, str], links: Links
         ) -> tuple[ModelRow, list[Any]]:
    name = config.name
    versions = sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version), reverse=True)
    registered = client.get_registered_model(name) if versions else None
    by_alias = _aliases(registered, versions)
    experiment = experiments.get(name)
    drift = training = None
    if experiment is not None:
        drift = _newest_run(client, experiment, "drift")
        training = _newest_run(client, experiment, "training")
    row = ModelRow(
        model=name, description=config.description, target=config.deploy.target,
        champion=_ref(name, by_alias.get(CHAMPION), links), challenger=_ref(name, by_alias.get(CHALLENGER), links),
        serving={alias.removeprefix(SERVING_PREFIX): str(v.version) for alias, v in sorted(by_alias.items())
                 if alias.startswith(SERVING_PREFIX)},
        drift=_drift(drift, experiment, links) if drift is not None and experiment else None,
        production=_production(versions),
        retraining=_retraining(training, experiment, versions, links) if training is not None and experiment
        else None,
        versions=len(versions),
        pending_approvals=[str(v.version) for v in versions if (v.tags or {}).get(TAG_APPROVAL) == "pending"],
        **_lifecycle((registered.tags or {}) if registered is not None else {}),
    )
    return row, versions


def _aliases(registered: Any | None, versions: list[Any]) -> dict[str, Any]:
    """{alias: version}; each version's `aliases` is filled in too. The registered model carries the aliases:
    MLflow's version search leaves them out."""
    if registered is None or not versions:
        return {}
    by_number = {str(v.version): v for v in versions}
    aliases = {alias: by_number[str(number)] for alias, number in (registered.aliases or {}).items()
               if str(number) in by_number}
    for version in versions:
        version.aliases = sorted(alias for alias, v in aliases.items() if v is version)
    return aliases


def _lifecycle(tags: dict[str, str]) -> dict[str, Any]:
    """`lifecycle` and `lifecycle_detail` of the row: the retirement state the lifecycle's phases wrote on the
    registered model; a hand-edited notice that is not a JSON object is shown as it is."""
    if tags.get(TAG_RETIRED):
        return {"lifecycle": "retired", "lifecycle_detail": when(tags[TAG_RETIRED])}
    raw = tags.get(TAG_DEPRECATED)
    if not raw:
        return {}
    try:
        notice = json.loads(raw)
    except ValueError:
        notice = None
    if not isinstance(notice, dict):
        return {"lifecycle": "deprecated", "lifecycle_detail": raw}
    parts = [f"serving stops on {notice['stop_on']}" if notice.get("stop_on") else "",
             f"replaced by {notice['replaced_by']}" if notice.get("replaced_by") else ""]
    return {"lifecycle": "deprecated", "lifecycle_detail": "; ".join(part for part in parts if part)}


def _newest_run(client: MlflowClient, experiment_id: str, stage: str) -> Any | None:
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{TAG_STAGE}` = '{stage}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None


def _ref(model: str, version: Any | None, links: Links) -> VersionRef | None:
    if version is None:
        return None
    tags = version.tags or {}
    return VersionRef(version=str(version.version), url=links.version(model, str(version.version)),
                      created=_iso(version.creation_timestamp), metric=tags.get(TAG_METRIC) or None,
                      score=_number(tags.get(TAG_SCORE_CANDIDATE)))


def _drift(run: Any, experiment_id: str, links: Links) -> DriftVerdict:
    tags = run.data.tags or {}
    drifted = tags.get(TAG_DRIFTED)
    dag_run = tags.get(TAG_DAG_RUN) or None
    return DriftVerdict(
        drifted=None if drifted is None else drifted == "true",
        drift_share=_number(run.data.metrics.get("drift_share")),
        version=tags.get(TAG_SERVED_VERSION) or None,
        at=_iso(run.info.start_time),
        report_url=artifact_url(links.run(experiment_id, run.info.run_id), REPORT_ARTIFACT),
        dag_run_id=dag_run, airflow_url=links.dag_run(dag_run) if dag_run else None,
    )


def _production(versions: list[Any]) -> ProductionCheck | None:
    """The newest check (by its `at`) among the versions' `mlops.monitor` tags; a tag that is not a JSON object
    is skipped (the monitor writes it; a hand-edited tag must not break the page)."""
    checks = []
    for version in versions:
        raw = (version.tags or {}).get(TAG_MONITOR)
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            continue
        if isinstance(data, dict):
            checks.append((str(data.get("at") or ""), int(version.version), version, data))
    if not checks:
        return None
    _, _, version, data = max(checks, key=lambda item: item[:2])
    labels = data.get("n_labels")
    return ProductionCheck(
        version=str(version.version), realized=_number(data.get("realized")), estimated=_number(data.get("estimated")),
        metric=_text(data.get("metric")), n_labels=labels if isinstance(labels, int) else None,
        verdict=_text(data.get("verdict")), at=_text(data.get("at")))


def _retraining(run: Any, experiment_id: str, versions: list[Any], links: Links) -> Retraining:
    tags = run.data.tags or {}
    dag_run = tags.get(TAG_DAG_RUN) or None
    registered = [v for v in versions if v.run_id == run.info.run_id]
    version = registered[-1] if registered else None
    return Retraining(
        reason=tags.get(TAG_REASON) or None, status=str(run.info.status), at=_iso(run.info.start_time),
        run_url=links.run(experiment_id, run.info.run_id), dag_run_id=dag_run,
        airflow_url=links.dag_run(dag_run) if dag_run else None,
        version=str(version.version) if version is not None else None,
        decision=(version.tags or {}).get(TAG_DECISION) if version is not None else None)


def _version_detail(model: str, version: Any, experiment_id: str | None, links: Links) -> VersionDetail:
    tags = version.tags or {}
    dag_run = tags.get(TAG_DAG_RUN) or None
    failures = {key[len(DEPLOY_FAILED_PREFIX):-len(DEPLOY_FAILED_SUFFIX)]: value for key, value in tags.items()
                if key.startswith(DEPLOY_FAILED_PREFIX) and key.endswith(DEPLOY_FAILED_SUFFIX)}
    return VersionDetail(
        version=str(version.version), url=links.version(model, str(version.version)),
        created=_iso(version.creation_timestamp), aliases=sorted(version.aliases or []),
        reason=tags.get(TAG_REASON) or None, dag_run_id=dag_run,
        airflow_url=links.dag_run(dag_run) if dag_run else None,
        validation=tags.get(TAG_VALIDATION) or None, decision=tags.get(TAG_DECISION) or None,
        gate=tags.get(TAG_GATE) or None, metric=tags.get(TAG_METRIC) or None,
        score=_number(tags.get(TAG_SCORE_CANDIDATE)), champion_score=_number(tags.get(TAG_SCORE_CHAMPION)),
        champion_at_decision=tags.get(TAG_CHAMPION_AT_DECISION) or None, deploy_failures=failures,
        run_url=links.run(experiment_id, version.run_id) if experiment_id and version.run_id else None,
        archived=(f"{when(tags[TAG_ARCHIVED])}: {tags.get(TAG_ARCHIVED_WHY) or 'no reason recorded'}"
                  if tags.get(TAG_ARCHIVED) else None))


def _iso(millis: Any) -> str | None:
    if not millis:
        return None
    return datetime.fromtimestamp(int(millis) / 1000, UTC).isoformat(timespec="seconds")


def _number(value: Any) -> float | None:
    """A finite float from a tag or metric value, else None (an empty tag, 'nan', a word)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _short(err: Exception) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 300 else f"{text[:297]}..."
