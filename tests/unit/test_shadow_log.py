"""The shadow log is beside the inference log, never in it: the drift monitor's window listing, the label join
the performance monitor and retraining feedback read, and the label ingestion's id lookup see only live rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from mlops_provider import inference_log, labels
from mlops_provider.config import ModelConfig
from mlops_provider.triggers.drift import window_rows

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def window(folder: str, ids: list[str], version: str, predictions: list[Any]) -> str:
    n = len(ids)
    frame = pd.DataFrame({"x": [1.0] * n, "colour": ["red"] * n, inference_log.PREDICTION: predictions,
                          inference_log.VERSION: version,
                          inference_log.TIMESTAMP: [NOW + timedelta(seconds=i) for i in range(n)],
                          inference_log.REQUEST_ID: pd.Series(ids, dtype=object),
                          inference_log.SCORE: [0.5] * n})
    return inference_log.write_window(folder, frame, start=NOW)


def test_the_shadow_folder_is_one_level_under_the_inference_folder(toy_config: ModelConfig) -> None:
    assert inference_log.shadow_uri(toy_config) == f"{inference_log.inference_uri(toy_config)}/shadow"


def test_monitors_and_retraining_never_read_shadow_rows(toy_config: ModelConfig) -> None:
    live = window(inference_log.inference_uri(toy_config), ["a", "b", "c"], "1", [1, 0, 1])
    shadow = window(inference_log.shadow_uri(toy_config), ["a", "b", "c", "ghost"], "2", [0, 0, 0, 0])
    labels.ingest_labels(toy_config, pd.DataFrame({"request_id": ["a", "b", "c"], "label": [1, 1, 1]}, dtype=object),
                         source="test", now=NOW + timedelta(minutes=5))

    uris, rows = window_rows(inference_log.inference_uri(toy_config), 60, None)  # the drift sensor's count
    assert uris == [live] and rows == 3
    listed = inference_log.recent_windows(inference_log.inference_uri(toy_config), minutes=60)
    assert [w.uri for w in listed] == [live]  # the drift monitor's windows

    # the performance monitor and retraining's feedback rows both come from this join
    joined = labels.labelled_predictions(toy_config, start=NOW - timedelta(minutes=1), end=NOW + timedelta(hours=1))
    assert joined[inference_log.VERSION].tolist() == ["1", "1", "1"]
    assert joined[inference_log.PREDICTION].tolist() == [1, 0, 1]
    assert labels.find_request_ids(toy_config, {"a", "ghost"}) == {"a"}  # a shadow id is not a served prediction

    # the shadow log reads back on request (the shadow report)
    shadowed = inference_log.predictions_between(toy_config, NOW - timedelta(minutes=1), NOW + timedelta(hours=1),
                                                 shadow=True)
    assert sorted(shadowed[inference_log.REQUEST_ID]) == ["a", "b", "c", "ghost"]
    assert [w.uri for w in inference_log.list_windows(inference_log.shadow_uri(toy_config))] == [shadow]


def test_live_retention_leaves_the_shadow_log_to_its_own_writer(toy_config: ModelConfig) -> None:
    window(inference_log.shadow_uri(toy_config), ["a"], "2", [0])
    deleted = inference_log.delete_before(inference_log.inference_uri(toy_config), NOW + timedelta(days=2))
    assert deleted == 0
    assert len(inference_log.list_windows(inference_log.shadow_uri(toy_config))) == 1
