"""The shadow report on logs written here: agreement, latency of both sides on the same requests, failed requests,
and realized performance of both on the same labelled rows; its Markdown and MLflow metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from mlops_provider import inference_log, labels
from mlops_provider.config import ModelConfig
from mlops_provider.serving.shadow import LIVE_MS, SHADOW_ERROR, SHADOW_MS
from mlops_provider.shadow import shadow_report

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


def write(folder: str, ids: list[str], version: str, predictions: list[Any], **extra: list[Any]) -> None:
    n = len(ids)
    frame = pd.DataFrame({"x": [1.0] * n, "colour": ["red"] * n, inference_log.PREDICTION: predictions,
                          inference_log.VERSION: version,
                          inference_log.TIMESTAMP: [NOW + timedelta(seconds=i) for i in range(n)],
                          inference_log.REQUEST_ID: pd.Series(ids, dtype=object),
                          inference_log.SCORE: [0.5] * n, **extra})
    inference_log.write_window(folder, frame, start=NOW)


@pytest.fixture
def logged(toy_config: ModelConfig) -> ModelConfig:
    ids = ["a", "b", "c", "d", "e"]
    write(inference_log.inference_uri(toy_config), ids, "1", [1, 0, 1, 0, 1])
    # the shadow agrees on a, b, c; disagrees on d; failed on e
    write(inference_log.shadow_uri(toy_config), ids, "2", [1, 0, 1, 1, None],
          **{SHADOW_MS: [2.0, 4.0, 6.0, 8.0, 10.0], LIVE_MS: [1.0, 1.0, 1.0, 1.0, 1.0],
             SHADOW_ERROR: [None, None, None, None, "ValueError: boom"]})
    write(inference_log.shadow_uri(toy_config), ["z"], "3", [0])  # another version's shadow: not in v2's report
    labels.ingest_labels(toy_config, pd.DataFrame({"request_id": ids[:4], "label": [1, 0, 0, 1]}, dtype=object),
                         source="test", now=NOW + timedelta(minutes=5))
    return toy_config


def test_the_report_compares_the_shadow_with_the_live_answers(logged: ModelConfig) -> None:
    report = shadow_report(logged, "2", start=NOW - timedelta(minutes=1), end=NOW + timedelta(hours=1), dropped=7,
                           metric="accuracy")
    assert (report.requests, report.rows, report.joined, report.errors, report.dropped) == (5, 5, 5, 1, 7)
    assert report.live_versions == ["1"]
    assert report.agreement == pytest.approx(3 / 4)  # of the rows the shadow answered
    assert report.shadow_p50_ms == 6.0 and report.live_p95_ms == 1.0
    # labels 1, 0, 0, 1 on a-d: the shadow (1, 0, 1, 1) gets 3 right, the live answers (1, 0, 1, 0) get 2
    assert report.metric == "accuracy" and report.labelled == 4
    assert report.shadow_value == pytest.approx(0.75) and report.live_value == pytest.approx(0.5)
    text = report.markdown()
    assert "| agreement with the live answers (same label) | 0.75 | |" in text
    assert "| accuracy on 4 labelled rows | 0.75 | 0.5 |" in text and "| copies dropped (queue full) | 7 | |" in text
    assert report.metrics()["shadow.errors"] == 1.0 and "shadow.mean_abs_diff" not in report.metrics()


def test_a_regression_report_gives_the_mean_absolute_difference(logged: ModelConfig) -> None:
    regression = logged.model_copy(update={"task": "regression"})
    report = shadow_report(regression, "2", start=NOW - timedelta(minutes=1), end=NOW + timedelta(hours=1),
                           metric="mae")
    assert report.agreement is None and report.mean_abs_diff == pytest.approx(1 / 4)
    assert report.shadow_value == pytest.approx(0.25) and report.live_value == pytest.approx(0.5)
    assert "| mean absolute difference from the live answers | 0.25 | |" in report.markdown()
