"""How the served version of a model does in production: realized performance on the labels that arrived,
estimated performance (CBPE) before they do, prediction and confidence drift against its holdout.

Plain MLflow + pandas. Reads the inference log (`inference_log`), the labels log (`labels`) and the holdout the
training run scored (`monitoring.load_holdout_scores`); the performance monitor's operators call `check_production`,
then `log_check` (a monitoring run per version, so the MLflow UI draws each number over time).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_provider.inference_log import PREDICTION, REQUEST_ID, SCORE, TIMESTAMP, VERSION
from mlops_provider.monitoring import load_holdout_scores, served_version
from mlops_provider.tracking import TAG_MODEL, TAG_MONITOR, TAG_STAGE

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from mlops_provider.config import ModelConfig
    from mlops_provider.xcom import ProductionCheck

LABEL = "mlops_label"
TAG_MONITORED_VERSION = "mlops.monitored_version"


def policy_metric(config: ModelConfig) -> str:
    return config.monitor.performance.metric if config.monitor.performance else config.gate.metric


def window_predictions(config: ModelConfig, start: datetime, end: datetime) -> pd.DataFrame:
    """Every logged prediction with its timestamp in [start, end), the served version as text."""
    from mlops_provider.inference_log import predictions_between

    frame = predictions_between(config, start, end)
    return frame.assign(**{VERSION: frame[VERSION].astype(str)}).reset_index(drop=True)


def _realized(config: ModelConfig, predictions: pd.DataFrame, labels: pd.DataFrame, metric: str) -> Any:
    from mlops_provider.performance import realized_performance

    usable = predictions.dropna(subset=[REQUEST_ID])
    return realized_performance(usable, labels, metric=metric, task=config.task, window=None, on=REQUEST_ID,
                                y_true=LABEL, y_pred=PREDICTION, y_proba=SCORE, timestamp=TIMESTAMP)


def holdout_metric(config: ModelConfig, holdout: pd.DataFrame, metric: str) -> float | None:
    """`metric` of the version on its own holdout (the policy's baseline)."""
    import pandas as pd

    from mlops_provider.performance import realized_performance

    ids = [str(i) for i in range(len(holdout))]
    predictions = pd.DataFrame({REQUEST_ID: ids, PREDICTION: holdout["y_pred"].to_numpy(),
                                TIMESTAMP: pd.Timestamp("2000-01-01", tz="UTC"), VERSION: "holdout"})
    if "y_pred_proba" in holdout.columns:
        predictions[SCORE] = holdout["y_pred_proba"].to_numpy()
    labels = pd.DataFrame({REQUEST_ID: ids, LABEL: holdout["y_true"].to_numpy()})
    result = realized_performance(predictions, labels, metric=metric, task=config.task, on=REQUEST_ID,
                                  y_true=LABEL, y_pred=PREDICTION, y_proba=SCORE if SCORE in predictions else "",
                                  timestamp=TIMESTAMP)
    return result.windows[0].value if result.windows else None


def _drift(config: ModelConfig, holdout: pd.DataFrame, served: pd.DataFrame) -> tuple[dict | None, dict | None]:
    """(prediction drift, confidence drift) of the served rows against the holdout's, by the drift engine."""
    import pandas as pd

    from mlops_provider.drift import detect_drift

    if len(served) < config.drift.min_rows:
        return None, None
    kind = "categorical" if config.task == "classification" else "numerical"
    reference = pd.DataFrame({"prediction": holdout["y_pred"].to_numpy()})
    current = pd.DataFrame({"prediction": served[PREDICTION].to_numpy()})
    kinds = {"prediction": kind}
    if "y_pred_proba" in holdout.columns and served[SCORE].notna().all():
        reference["score"] = holdout["y_pred_proba"].to_numpy()
        current["score"] = served[SCORE].astype(float).to_numpy()
        kinds["score"] = "numerical"
    if kind == "categorical":
        reference["prediction"] = reference["prediction"].astype(str)
        current["prediction"] = current["prediction"].astype(str)
    result = detect_drift(reference, current, kinds=kinds, drift_share=1.0).to_dict()
    out = []
    for column in ("prediction", "score"):
        found = result["columns"].get(column)
        out.append(None if found is None else {
            "drifted": bool(found["drifted"]), "score": found.get("score"), "method": found.get("method"),
            "threshold": found.get("threshold"),
            "summary": f"{column} {found.get('method')} {found.get('score'):.4g} "
                       f"(threshold {found.get('threshold')})"})
    return out[0], out[1]


def _estimate(config: ModelConfig, holdout: pd.DataFrame | None, served: pd.DataFrame,
              notes: list[str]) -> tuple[float | None, float | None, str | None]:
    """(estimate, its holdout baseline, why none) of the estimated policy's metric (CBPE)."""
    from mlops_provider.performance import estimate_performance

    policy = config.monitor.estimated
    if policy is None:
        return None, None, "no estimated policy"
    if holdout is None or "y_pred_proba" not in holdout.columns:
        return None, None, "the version's holdout has no scores (a binary classifier with predict_proba)"
    scored = served.dropna(subset=[SCORE])
    if scored.empty:
        return None, None, "no scored predictions in the window"
    current = scored.assign(y_pred_proba=scored[SCORE].astype(float))[["y_pred_proba"]]
    try:
        estimate = estimate_performance(holdout, current, metric=policy.metric)
    except ValueError as err:
        notes.append(f"CBPE: {err}")
        return None, None, str(err)
    return float(estimate), holdout_metric(config, holdout, policy.metric), None


def check_production(config: ModelConfig, client: MlflowClient, *, now: datetime,
                     labels_report: dict[str, Any] | None = None) -> ProductionCheck:
    """Measure the served version over the last `monitor.window_hours` before `now` (JSON-able)."""
    from mlops_provider.labels import read_labels

    version, alias = served_version(client, config)
    start = now - timedelta(hours=config.monitor.window_hours)
    predictions = window_predictions(config, start, now)
    served = predictions[predictions[VERSION] == version]
    metric = policy_metric(config)
    notes: list[str] = []
    labels = read_labels(config)
    realized = _realized(config, predictions, labels, metric) if len(predictions) else None
    windows = list(realized.windows) if realized is not None else []
    own = next((w for w in windows if str(w.version) == version), None)
    holdout = load_holdout_scores(client, config, version)
    if holdout is None:
        notes.append(f"v{version} has no holdout scores (trained before they were logged): no baseline, "
                     "no estimate, no prediction drift")
    prediction_drift, confidence_drift = _drift(config, holdout, served) if holdout is not None else (None, None)
    estimated, estimated_baseline, estimated_note = _estimate(config, holdout, served, notes)
    return {
        "model": config.name, "version": version, "alias": alias,
        "window_start": start.isoformat(), "window_end": now.isoformat(),
        "predictions": len(served), "labelled": own.n_labelled if own else 0,
        "unlabelled": len(served) - (own.n_labelled if own else 0), "metric": metric,
        "baseline": holdout_metric(config, holdout, metric) if holdout is not None else None,
        "realized": own.value if own else None,
        "realized_interval": [own.ci_low, own.ci_high] if own and own.ci_low is not None else None,
        "realized_metrics": dict(own.metrics) if own else {},
        "by_version": [{"version": str(w.version), "predictions": w.n_predictions, "labelled": w.n_labelled,
                        metric: w.value, "note": w.note} for w in windows],
        "estimated": estimated,
        "estimated_metric": config.monitor.estimated.metric if config.monitor.estimated else None,
        "estimated_baseline": estimated_baseline, "estimated_note": estimated_note,
        "prediction_drift": prediction_drift, "confidence_drift": confidence_drift,
        "labels": labels_report or {}, "notes": notes,
    }


def monitoring_run(client: MlflowClient, config: ModelConfig, version: str) -> str:
    """The id of the version's monitoring run (created once; every check logs to it)."""
    import mlflow

    experiment = mlflow.set_experiment(config.experiment_name)
    found = client.search_runs([experiment.experiment_id], max_results=1,
                               filter_string=f"tags.`{TAG_STAGE}` = 'monitor' and "
                                             f"tags.`{TAG_MONITORED_VERSION}` = '{version}'")
    if found:
        return str(found[0].info.run_id)
    run = client.create_run(experiment.experiment_id, run_name=f"monitor-{config.name}-v{version}",
                            tags={TAG_STAGE: "monitor", TAG_MODEL: config.name, TAG_MONITORED_VERSION: version})
    return str(run.info.run_id)


def log_check(client: MlflowClient, config: ModelConfig, check: ProductionCheck,
              verdict: dict[str, Any]) -> str:
    """Log the check's numbers as metrics of the version's monitoring run, stepped by the window's end (minutes
    since the epoch), and its summary as the version tag `mlops.monitor`. Returns the run id."""
    from mlflow.entities import Metric

    end = datetime.fromisoformat(check["window_end"])
    step, stamp = int(end.timestamp() // 60), int(end.timestamp() * 1000)
    values: dict[str, float | None] = {"predictions": check["predictions"], "labelled_rows": check["labelled"],
                                       f"realized_{check['metric']}": check["realized"]}
    values.update({f"realized_{k}": v for k, v in check["realized_metrics"].items()})
    if check["estimated_metric"]:
        values[f"estimated_{check['estimated_metric']}"] = check["estimated"]
    for name, drift in (("prediction_drift", check["prediction_drift"]), ("confidence_drift",
                                                                         check["confidence_drift"])):
        if drift and drift.get("score") is not None:
            values[f"{name}_score"] = drift["score"]
    run_id = monitoring_run(client, config, check["version"])
    metrics = [Metric(k, float(v), stamp, step) for k, v in values.items() if v is not None]
    client.log_batch(run_id, metrics=metrics)
    summary = {"at": check["window_end"], "metric": check["metric"], "realized": check["realized"],
               "estimated": check["estimated"], "n_labels": check["labelled"], "baseline": check["baseline"],
               "verdict": "degraded" if verdict.get("degraded") else "ok" if verdict.get("judged") else "no verdict",
               "prediction_drift": bool((check["prediction_drift"] or {}).get("drifted")),
               "actions": verdict.get("actions", []), "run_id": run_id}
    client.set_model_version_tag(config.name, check["version"], TAG_MONITOR, json.dumps(summary)[:4900])
    return run_id
