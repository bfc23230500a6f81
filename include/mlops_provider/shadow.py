"""The shadow report of a version: how its answers to copies of live traffic compare with the answers served.

Over a window of the shadow log (`inference_log.shadow_uri`) joined to the inference log by request id: rows
shadowed, agreement with the live version (classification: the share of rows with the same label; regression: the
mean absolute difference), the shadow's and the live version's latency per request (p50, p95, on the same requests),
the requests the shadow failed on, copies dropped (from the server's counters, when given) and, once labels arrived,
the realized performance of both on the same labelled rows (`performance.realized_performance`). Logged to MLflow
as a run of `mlops/<model>` (stage `shadow`: metrics, the Markdown report as an artifact) and a version tag with
the summary. No Airflow import.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.inference_log import PREDICTION, REQUEST_ID, SCORE, TIMESTAMP, VERSION, predictions_between
from mlops_provider.serving.shadow import LIVE_MS, SHADOW_ERROR, SHADOW_MS

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig

LIVE_MARGIN = timedelta(minutes=5)  # a shadow row is written after its live row: look that far around the window


@dataclass(frozen=True)
class ShadowReport:
    """One version's shadow results over [start, end); None where there is nothing to measure."""

    model: str
    version: str
    start: str
    end: str
    task: str
    live_versions: list[str]
    requests: int
    rows: int
    joined: int  # shadow rows whose live row was found
    agreement: float | None  # classification: share of joined rows with the live label
    mean_abs_diff: float | None  # regression: mean |shadow - live| over joined rows
    errors: int  # requests the shadow failed on
    dropped: int | None  # copies not shadowed (the queue was full), from the server
    shadow_p50_ms: float | None
    shadow_p95_ms: float | None
    live_p50_ms: float | None
    live_p95_ms: float | None
    metric: str
    labelled: int
    shadow_value: float | None  # realized `metric` of the shadow on the labelled rows
    live_value: float | None  # ... and of the live answers on the same rows

    def summary(self) -> dict[str, Any]:
        return asdict(self)

    def metrics(self) -> dict[str, float]:
        """The numbers as MLflow metrics (those that are known)."""
        names = ("requests", "rows", "joined", "agreement", "mean_abs_diff", "errors", "dropped", "shadow_p50_ms",
                 "shadow_p95_ms", "live_p50_ms", "live_p95_ms", "labelled", "shadow_value", "live_value")
        values = {f"shadow.{name}": getattr(self, name) for name in names}
        return {key: float(value) for key, value in values.items() if value is not None}

    def markdown(self) -> str:
        def show(value: float | int | None, unit: str = "") -> str:
            if value is None:
                return "n/a"
            return f"{value:.4g}{unit}" if isinstance(value, float) else f"{value}{unit}"

        compare = ("agreement with the live answers (same label)", show(self.agreement)) \
            if self.task == "classification" else ("mean absolute difference from the live answers",
                                                   show(self.mean_abs_diff))
        lines = [
            f"# Shadow report: {self.model} v{self.version}",
            "",
            f"Window {self.start} to {self.end}; live version(s) {', '.join(self.live_versions) or 'none'}.",
            "",
            "| measure | shadow | live |",
            "| --- | --- | --- |",
            f"| requests shadowed | {self.requests} | |",
            f"| rows shadowed (joined to a live row) | {self.rows} ({self.joined}) | |",
            f"| {compare[0]} | {compare[1]} | |",
            f"| latency p50 | {show(self.shadow_p50_ms, ' ms')} | {show(self.live_p50_ms, ' ms')} |",
            f"| latency p95 | {show(self.shadow_p95_ms, ' ms')} | {show(self.live_p95_ms, ' ms')} |",
            f"| requests failed | {self.errors} | |",
            f"| copies dropped (queue full) | {show(self.dropped)} | |",
            f"| {self.metric} on {self.labelled} labelled rows | {show(self.shadow_value)} | "
            f"{show(self.live_value)} |",
            "",
            "The shadow's answers were logged, never returned; latency is the model's scoring time per request.",
        ]
        return "\n".join(lines) + "\n"


def shadow_report(config: ModelConfig, version: str, *, start: datetime, end: datetime,
                  dropped: int | None = None, metric: str | None = None) -> ShadowReport:
    """The report of `version` over the shadow rows logged in [start, end) (see the module docstring).

    :param dropped: copies the server dropped (its shadow counters), when known
    :param metric: the realized metric (default: the model's performance policy metric, else its gate's)
    """
    from mlops_provider.production import policy_metric

    version = str(version)
    shadow = predictions_between(config, start, end, shadow=True)
    shadow = shadow[shadow[VERSION].astype(str) == version].reset_index(drop=True)
    live = predictions_between(config, start - LIVE_MARGIN, end + LIVE_MARGIN)
    live = live[live[REQUEST_ID].isin(set(shadow[REQUEST_ID].dropna()))]
    live = live.drop_duplicates(REQUEST_ID).set_index(REQUEST_ID)
    joined = shadow.join(live[[PREDICTION, VERSION, SCORE]], on=REQUEST_ID, rsuffix="_live", how="inner")
    answered = joined[joined[SHADOW_ERROR].isna()] if SHADOW_ERROR in joined.columns else joined
    agreement, mean_abs_diff = _compare(config.task, answered[PREDICTION], answered[f"{PREDICTION}_live"])
    metric = metric or policy_metric(config)
    labelled, shadow_value, live_value = _realized(config, answered, metric, start)
    shadow_ms = shadow[SHADOW_MS] if SHADOW_MS in shadow.columns else None
    live_ms = shadow[LIVE_MS] if LIVE_MS in shadow.columns else None
    errors = int(shadow.loc[shadow[SHADOW_ERROR].notna() & shadow[SHADOW_MS].notna()].shape[0]) \
        if SHADOW_ERROR in shadow.columns and shadow_ms is not None else 0
    requests = int(shadow_ms.notna().sum()) if shadow_ms is not None else len(shadow)
    return ShadowReport(
        model=config.name, version=version, start=start.isoformat(), end=end.isoformat(), task=config.task,
        live_versions=sorted({str(v) for v in joined[f"{VERSION}_live"].dropna()}), requests=requests,
        rows=len(shadow), joined=len(joined), agreement=agreement, mean_abs_diff=mean_abs_diff, errors=errors,
        dropped=dropped, shadow_p50_ms=_quantile(shadow_ms, 0.5), shadow_p95_ms=_quantile(shadow_ms, 0.95),
        live_p50_ms=_quantile(live_ms, 0.5), live_p95_ms=_quantile(live_ms, 0.95), metric=metric,
        labelled=labelled, shadow_value=shadow_value, live_value=live_value)


def _compare(task: str, shadow: pd.Series, live: pd.Series) -> tuple[float | None, float | None]:
    if not len(shadow):
        return None, None
    if task == "classification":
        import pandas as pd

        try:  # a window with a failed request holds labels 1.0 beside another window's 1: compare numbers as numbers
            same = pd.to_numeric(shadow).to_numpy() == pd.to_numeric(live).to_numpy()
        except (TypeError, ValueError):
            same = (shadow.astype(str) == live.astype(str)).to_numpy()
        return float(same.mean()), None
    return None, float((shadow.astype(float) - live.astype(float)).abs().mean())


def _quantile(values: pd.Series | None, q: float) -> float | None:
    if values is None:
        return None
    known = values.dropna()
    return round(float(known.quantile(q)), 3) if len(known) else None


def _realized(config: ModelConfig, joined: pd.DataFrame, metric: str,
              start: datetime) -> tuple[int, float | None, float | None]:
    """(labelled rows, the shadow's realized metric, the live answers' on the same rows)."""
    import pandas as pd

    from mlops_provider.labels import LABEL, read_labels
    from mlops_provider.performance import realized_performance

    labels = read_labels(config, since=start - LIVE_MARGIN)[[REQUEST_ID, LABEL]]
    rows = joined[joined[REQUEST_ID].isin(set(labels[REQUEST_ID]))]
    if rows.empty:
        return 0, None, None
    both = pd.concat([
        rows[[REQUEST_ID, PREDICTION, SCORE, TIMESTAMP]].assign(**{VERSION: "shadow"}),
        rows[[REQUEST_ID, f"{PREDICTION}_live", f"{SCORE}_live", TIMESTAMP]].rename(
            columns={f"{PREDICTION}_live": PREDICTION, f"{SCORE}_live": SCORE}).assign(**{VERSION: "live"}),
    ], ignore_index=True)
    both[REQUEST_ID] = both[REQUEST_ID] + "|" + both[VERSION]  # one label per (row, side)
    keyed = pd.concat([labels.assign(**{REQUEST_ID: labels[REQUEST_ID] + f"|{side}"}) for side in ("shadow", "live")],
                      ignore_index=True)
    result = realized_performance(both, keyed, metric=metric, task=config.task, on=REQUEST_ID, y_true=LABEL,
                                  y_pred=PREDICTION, y_proba=SCORE, timestamp=TIMESTAMP)
    values = {str(w.version): w.value for w in result}
    return len(rows), _finite(values.get("shadow")), _finite(values.get("live"))


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def log_shadow_report(client: MlflowClient, config: ModelConfig, report: ShadowReport) -> str:
    """Log the report: a run of `mlops/<model>` (stage `shadow`, metrics, the Markdown report) and the summary as
    the version's tag; the run id."""
    from mlops_provider.tracking import SHADOW_REPORT_ARTIFACT, STAGE_SHADOW, TAG_MODEL, TAG_SHADOW_REPORT, TAG_STAGE

    experiment = client.get_experiment_by_name(config.experiment_name)
    experiment_id = experiment.experiment_id if experiment is not None \
        else client.create_experiment(config.experiment_name)
    run = client.create_run(experiment_id, run_name=f"shadow-v{report.version}",
                            tags={TAG_STAGE: STAGE_SHADOW, TAG_MODEL: config.name})
    run_id = str(run.info.run_id)
    for key, value in report.metrics().items():
        client.log_metric(run_id, key, value)
    client.log_text(run_id, report.markdown(), SHADOW_REPORT_ARTIFACT)
    client.set_terminated(run_id)
    summary = {**report.summary(), "run_id": run_id}
    client.set_model_version_tag(config.name, report.version, TAG_SHADOW_REPORT, json.dumps(summary, default=str))
    return run_id
