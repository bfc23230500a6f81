"""A model's registry history written by the package's own writers (register, gate decision, champion move,
serving record, deploy failure, drift report run, production check) on the real MLflow test server, without
training: the cockpit reads metadata only, so a run with a stand-in artifact serves as the model."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MONITOR = {"realized": 0.88, "estimated": 0.9, "metric": "roc_auc", "n_labels": 120, "verdict": "ok",
           "at": "2030-01-02T03:04:05+00:00"}


@dataclass
class History:
    model: str
    experiment_id: str
    drift_run_id: str
    training_run_ids: list[str]


def training_run(model: str, *, reason: str, dag_run_id: str) -> str:
    """A finished training run (the tags `training.run` writes) holding a stand-in `model/` artifact."""
    import mlflow

    from mlops_provider.tracking import TAG_DAG_RUN, TAG_MODEL, TAG_REASON, TAG_STAGE

    tags = {TAG_DAG_RUN: dag_run_id, TAG_REASON: reason, TAG_MODEL: model, TAG_STAGE: "training"}
    with mlflow.start_run(tags=tags) as run, tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "MLmodel").write_text("flavors: {}\n")
        mlflow.log_artifact(str(Path(tmp) / "MLmodel"), artifact_path="model")
    return str(run.info.run_id)


def write_history(client: Any, tracking: str, model: str) -> History:
    """v1 promoted (champion, serving on `local`, production check), v2 rejected (challenger, failed deploy),
    then a validation run and a drift report run (drift on v1)."""
    import mlflow

    from mlops_provider.registry import (
        GateDecision,
        move_champion,
        record_decision,
        record_failure,
        record_serving,
        register,
    )
    from mlops_provider.tracking import TAG_MONITOR, tracking_uri

    with tracking_uri(tracking):
        experiment = mlflow.set_experiment(f"mlops/{model}").experiment_id
        runs = []
        for number, (reason, score, promote) in enumerate([("schedule", 0.91, True), ("drift", 0.62, False)], 1):
            dag_run = f"manual__run{number}"
            run_id = training_run(model, reason=reason, dag_run_id=dag_run)
            runs.append(run_id)
            training = {"model": model, "run_id": run_id, "model_uri": f"runs:/{run_id}/model",
                        "data_digest": "d1", "validation": "passed 12/12"}
            version = register(client, model=model, training=training, dag_run_id=dag_run,  # type: ignore[arg-type]
                               reason=reason)["version"]
            champion = None if number == 1 else "1"
            record_decision(client, model, version, GateDecision(promote, f"gate said {promote}"),
                            {"metric": "roc_auc", "candidate_score": score, "champion_version": champion,
                             "champion_score": None if champion is None else 0.91})
            if promote:
                move_champion(client, model, version)
        record_serving(client, model, "1", "local")
        record_failure(client, model, "2", "local", "smoke test: p95 latency 900 ms > 250 ms")
        client.set_model_version_tag(model, "1", TAG_MONITOR, json.dumps(MONITOR))
        client.set_model_version_tag(model, "2", TAG_MONITOR, "not json")
        drift_tags = {"mlops.stage": "drift", "mlops.model": model, "mlops.dag_run_id": "scheduled__drift1",
                      "mlops.served_version": "1", "mlops.drifted": "true"}
        with mlflow.start_run(run_name=f"drift-report-{model}", tags=drift_tags) as drift:
            mlflow.log_metric("drift_share", 0.6)
        with mlflow.start_run(tags={"mlops.stage": "validation", "mlops.model": model}):
            pass  # newer than every training run: must not be taken for one
    return History(model=model, experiment_id=str(experiment), drift_run_id=str(drift.info.run_id),
                   training_run_ids=runs)
