"""train_and_log and evaluate on an assembled training set (partitions in a window plus labelled production
rows), against a real MLflow server: the sources recorded on the run, the digest the data gate saw, retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_provider.config import ModelConfig
from mlops_provider.exceptions import TrainingError
from tests.helpers.training_sets import configured, deliver, log_predictions, toy_rows, write_partition

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def fresh_config(toy_config: ModelConfig, tmp_path: Path) -> ModelConfig:
    """toy on `toy/parts` (03-03, 03-04 in a 2-day window; 03-01 out of it) plus 60 labelled predictions."""
    root = tmp_path / "data" / "toy" / "parts"
    for i, day in enumerate(["2026-03-01", "2026-03-03", "2026-03-04"]):
        write_partition(root, day, toy_rows(150, seed=i))
    config = configured(toy_config, train="toy/parts", window_days=2, feedback=True)
    config = config.model_copy(update={"trainer": config.trainer.model_copy(
        update={"params": {"estimator": "logistic_regression"}})})
    production = toy_rows(60, seed=10)
    ids = log_predictions(config, production, start=datetime(2026, 3, 4, 9, tzinfo=UTC), prefix="p")
    deliver(config, ids, production["label"].tolist(), at=datetime(2026, 3, 5, 9, tzinfo=UTC))
    return config


def artifact(uri: str, run_id: str, path: str, folder: Path) -> Any:
    from mlflow import MlflowClient

    return json.loads(Path(MlflowClient(tracking_uri=uri).download_artifacts(run_id, path, str(folder))).read_text())


def test_the_run_records_the_sources_and_a_retry_reuses_it(fresh_config: ModelConfig, mlflow_server: str,
                                                           tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from mlops_provider.tracking import tracking_uri
    from mlops_provider.training.run import evaluate, train_and_log
    from mlops_provider.training_data import assemble_training_set, data_to_validate

    validated = data_to_validate(fresh_config, now=NOW)
    gate = {"data_digest": validated.digest, "data_time": validated.now.isoformat(), "evaluated": 3, "failed": 0}
    profiled: list[pd.DataFrame] = []
    client = MlflowClient(tracking_uri=mlflow_server)
    with tracking_uri(mlflow_server):
        result = train_and_log(fresh_config, client, dag_run_id="manual__fresh", reason="performance",
                               validation=gate, profile_writer=lambda frame, run_id: profiled.append(frame))
        retried = train_and_log(fresh_config, client, dag_run_id="manual__fresh", reason="performance",
                                validation=gate, now=NOW)
        evaluation = evaluate(fresh_config, client, candidate_uri=result["model_uri"])  # as of the candidate's time

    from mlops_provider.training_data import held_out

    assembled = assemble_training_set(fresh_config, now=NOW)
    assert result["data_digest"] == validated.digest == assembled.digest
    assert [(s["kind"], s["rows"]) for s in result["sources"]] == [("partition", 150), ("partition", 150),
                                                                   ("feedback", 60)]
    assert result["data_sources"] == ("2 partitions 2026-03-03..2026-03-04: 300 rows + feedback "
                                      "[2026-03-03T12:00, 2026-03-05T12:00): 60 rows")
    run = client.get_run(result["run_id"])
    assert run.data.tags["mlops.data_sources"] == result["data_sources"]
    assert run.data.tags["mlops.data_digest"] == assembled.digest
    assert run.data.params["data_time"] == NOW.isoformat()
    assert artifact(mlflow_server, result["run_id"], "data/sources.json", tmp_path) == result["sources"]
    assert int(run.data.params["train_rows"]) + int(run.data.params["holdout_rows"]) == 360
    assert len(profiled) == 1 and len(profiled[0]) == int(run.data.params["train_rows"])
    assert list(profiled[0].columns) == ["x", "colour"], "the reference profile of the assembled set's features"
    assert retried["reused"] and retried["run_id"] == result["run_id"]
    # 20% of the 300 partition rows by the seeded split, and the production rows held out by their ids' hash
    held = sum(held_out(i, fresh_config.data.holdout_fraction) for i in assembled.feedback_ids)
    assert evaluation["data_digest"] == assembled.digest and evaluation["holdout_rows"] == 60 + held
    assert int(run.data.params["holdout_rows"]) == 60 + held


def test_data_changed_since_validation_is_refused(fresh_config: ModelConfig, mlflow_server: str) -> None:
    from mlflow import MlflowClient

    from mlops_provider.tracking import tracking_uri
    from mlops_provider.training.run import train_and_log
    from mlops_provider.training_data import data_to_validate

    validated = data_to_validate(fresh_config, now=NOW)
    gate = {"data_digest": validated.digest, "data_time": validated.now.isoformat()}
    with tracking_uri(mlflow_server), pytest.raises(TrainingError) as err:
        train_and_log(fresh_config, MlflowClient(tracking_uri=mlflow_server), dag_run_id="manual__later",
                      reason="manual", validation=gate, now=NOW + timedelta(days=1))

    assert f"changed since it was validated (digest {validated.digest} then" in str(err.value)
    assert "1 partition 2026-03-04: 150 rows + feedback" in str(err.value)
