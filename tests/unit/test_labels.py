"""The labels log: deliveries checked row by row and appended idempotently, the inbox, and the join with the
inference log (the toy model of tests/unit/conftest.py, its folders under tmp_path)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_provider import inference_log, labels
from mlops_provider.config import ModelConfig, parse_model_config
from mlops_provider.exceptions import DataError

NOW = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)


def log_predictions(config: ModelConfig, ids: list[str | None], *, start: datetime = NOW,
                    predictions: list[Any] | None = None) -> str:
    n = len(ids)
    frame = pd.DataFrame({"x": [1.0] * n, "colour": ["red"] * n,
                          inference_log.PREDICTION: predictions or [0] * n, inference_log.VERSION: "1",
                          inference_log.TIMESTAMP: [start + timedelta(seconds=i) for i in range(n)],
                          inference_log.REQUEST_ID: pd.Series(ids, dtype=object),
                          inference_log.SCORE: [0.25] * n})
    return inference_log.write_window(inference_log.inference_uri(config), frame, start=start)


def delivery(*rows: tuple[Any, ...]) -> pd.DataFrame:
    columns = ["request_id", "label", "event_time"][:len(rows[0])]
    return pd.DataFrame([list(r) for r in rows], columns=columns, dtype=object)


def log_files(config: ModelConfig) -> list[Path]:
    return sorted(Path(labels.labels_uri(config), "log").rglob("*.parquet"))


def test_labels_folder_defaults_under_the_data_dir(toy_config: ModelConfig, tmp_path: Path) -> None:
    assert labels.labels_uri(toy_config) == f"{tmp_path}/data/toy/labels"
    custom = parse_model_config({**toy_config.model_dump(), "data": {**toy_config.data.model_dump(),
                                                                     "labels": "s3://bucket/toy-labels"}}, "toy.yaml")
    assert labels.labels_uri(custom) == "s3://bucket/toy-labels"


def test_a_delivery_is_checked_row_by_row(toy_config: ModelConfig) -> None:
    log_predictions(toy_config, ["a", "b", "c", "d", "e"])
    report = labels.ingest_labels(toy_config, delivery(
        ("a", 1, "2026-12-01T10:00:00Z"),
        ("b", 0, None),
        ("c", "yes", None),  # not a class of the model
        ("zzz", 1, None),  # never predicted
        (None, 1, None),
        ("  ", 0, None),
        ("d", 1, "not a time"),
        ("e", None, None),
        ("b", 0, None),  # the same label twice in one delivery: stored once
    ), source="test", now=NOW)
    assert (report.received, report.accepted, report.already_known) == (9, 2, 1)
    assert (report.wrong_type, report.unknown_ids, report.missing_id, report.bad_time) == (2, 1, 2, 1)
    assert report.rejected == 6 and len(report.problems) == 6
    assert "row 2: prediction 'c': label 'yes' is not a class of model 'toy' (['0', '1'])" in report.problems
    stored = labels.read_labels(toy_config)
    assert stored[inference_log.REQUEST_ID].tolist() == ["a", "b"] and stored[labels.LABEL].tolist() == [1, 0]
    assert stored[labels.LABEL_TIME].tolist() == [pd.Timestamp("2026-12-01T10:00:00Z"), pd.Timestamp(NOW)]
    assert set(stored[labels.SOURCE]) == {"test"} and set(stored[labels.RECEIVED]) == {pd.Timestamp(NOW)}
    assert str(stored[labels.LABEL].dtype) == "int64"
    audit = [json.loads(line) for line in Path(report.rejected_file.removeprefix("file://")).read_text().splitlines()]
    assert [row["rejected"] for row in audit] == ["wrong_type", "unknown_ids", "missing_id", "missing_id",
                                                  "bad_time", "wrong_type"]
    assert audit[1] == {"row": 3, "request_id": "zzz", "label": 1, "event_time": NOW.isoformat(),
                        "rejected": "unknown_ids", "source": "test", "received": NOW.isoformat(),
                        "reason": "prediction 'zzz' is not in the inference log of model 'toy'"}


def test_sending_the_same_labels_twice_changes_nothing(toy_config: ModelConfig) -> None:
    log_predictions(toy_config, ["a", "b"])
    first = labels.ingest_labels(toy_config, delivery(("a", 1), ("b", 0)), source="one", now=NOW)
    files = log_files(toy_config)
    again = labels.ingest_labels(toy_config, delivery(("a", 1.0), ("b", False)), source="two", now=NOW)
    assert (first.accepted, again.accepted, again.already_known, again.rejected) == (2, 0, 2, 0)
    assert log_files(toy_config) == files and again.log_file is None and again.rejected_file is None
    assert labels.read_labels(toy_config)[labels.SOURCE].tolist() == ["one", "one"]


def test_a_conflicting_label_is_refused_never_merged(toy_config: ModelConfig) -> None:
    log_predictions(toy_config, ["a", "b", "c"])
    labels.ingest_labels(toy_config, delivery(("a", 1)), source="first", now=NOW)
    report = labels.ingest_labels(toy_config, delivery(("a", 0), ("b", 1), ("b", 0), ("c", 1)), source="second",
                                  now=NOW)
    assert (report.conflicting, report.accepted) == (3, 1)
    assert any("already has label 1" in p for p in report.problems)
    assert any("different labels ['0', '1'] in this delivery" in p for p in report.problems)
    stored = labels.read_labels(toy_config).set_index(inference_log.REQUEST_ID)[labels.LABEL].to_dict()
    assert stored == {"a": 1, "c": 1}


def test_classes_come_from_the_caller_or_the_logged_predictions(toy_config: ModelConfig) -> None:
    log_predictions(toy_config, ["a", "b", "c"], predictions=["low", "high", "low"])
    report = labels.ingest_labels(toy_config, delivery(("a", "high"), ("b", "medium"), ("c", 1)), source="t",
                                  now=NOW)
    assert (report.accepted, report.wrong_type) == (2, 1)  # 0 and 1 are always classes
    stored = labels.read_labels(toy_config)
    assert stored[labels.LABEL].tolist() == ["high", "1"]  # text classes: one text column
    told = labels.ingest_labels(toy_config, delivery(("b", "medium")), source="t", now=NOW,
                                classes=["low", "medium", "high"], known_ids={"b"})
    assert told.accepted == 1


def test_regression_labels_are_finite_numbers(toy_config: ModelConfig) -> None:
    regression = parse_model_config({**toy_config.model_dump(), "task": "regression",
                                     "gate": {"metric": "rmse", "minimum": 10.0},
                                     "trainer": {"callable": "mlops_provider.training.sklearn:train_regressor"}},
                                    "toy.yaml")
    log_predictions(regression, ["a", "b", "c", "d"], predictions=[1.5, 2.5, 3.5, 4.5])
    report = labels.ingest_labels(regression, delivery(("a", 2.25), ("b", float("inf")), ("c", "3"), ("d", True),
                                                       ("e", 1.0)), source="t", now=NOW)
    assert (report.accepted, report.wrong_type, report.unknown_ids) == (1, 3, 1)
    stored = labels.read_labels(regression)
    assert stored[labels.LABEL].tolist() == [2.25] and str(stored[labels.LABEL].dtype) == "float64"


def test_a_delivery_without_a_required_column_names_it(toy_config: ModelConfig) -> None:
    with pytest.raises(DataError, match="labels from file x.csv: missing column 'label'"):
        labels.ingest_labels(toy_config, pd.DataFrame({"request_id": ["a"], "value": [1]}), source="file x.csv")
    with pytest.raises(DataError, match="missing column 'request_id'"):
        labels.ingest_labels(toy_config, pd.DataFrame({"id": ["a"], "label": [1]}), source="api")


def test_known_ids_read_only_the_id_column_and_skip_old_windows(toy_config: ModelConfig) -> None:
    log_predictions(toy_config, ["a", "b"], start=NOW - timedelta(days=2))
    log_predictions(toy_config, ["c", None])
    old = pd.DataFrame({"x": [1.0], "colour": ["red"], inference_log.PREDICTION: [0], inference_log.VERSION: "1",
                        inference_log.TIMESTAMP: [NOW]})
    inference_log.write_window(inference_log.inference_uri(toy_config), old, start=NOW)  # before ids existed
    assert labels.known_request_ids(toy_config) == {"a", "b", "c"}
    assert labels.known_request_ids(toy_config, since=NOW - timedelta(hours=1)) == {"c"}
    assert labels.find_request_ids(toy_config, {"a", "c", "q"}) == {"a", "c"}


def test_labelled_predictions_join_on_the_prediction_id(toy_config: ModelConfig) -> None:
    log_predictions(toy_config, ["early"], start=NOW - timedelta(hours=3))
    log_predictions(toy_config, ["a", "b", "c", "d"], predictions=[1, 0, 1, 0])
    log_predictions(toy_config, ["late"], start=NOW + timedelta(hours=3))
    labels.ingest_labels(toy_config, delivery(("a", 1), ("c", 0), ("early", 1), ("late", 0)), source="t",
                         now=NOW + timedelta(hours=4))
    joined = labels.labelled_predictions(toy_config, start=NOW - timedelta(minutes=5), end=NOW + timedelta(hours=1))
    assert joined[inference_log.REQUEST_ID].tolist() == ["a", "c"]
    assert joined[labels.LABEL].tolist() == [1, 0] and joined[inference_log.PREDICTION].tolist() == [1, 1]
    assert joined.attrs["unlabelled"] == 2
    expected = [*inference_log.META_COLUMNS, "x", "colour", labels.LABEL, labels.LABEL_TIME, labels.RECEIVED]
    assert sorted(joined.columns) == sorted(expected)
    none = labels.labelled_predictions(toy_config, start=NOW + timedelta(days=5), end=NOW + timedelta(days=6))
    assert none.empty and none.attrs["unlabelled"] == 0


def write_inbox(config: ModelConfig, name: str, content: bytes) -> Path:
    inbox = Path(labels.labels_uri(config), "inbox")
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_bytes(content)
    return inbox / name


def test_inbox_files_are_ingested_once_and_never_deleted(toy_config: ModelConfig) -> None:
    log_predictions(toy_config, ["007", "b", "c"])
    csv = b"request_id,label,event_time\n007,1,2026-12-01T09:00:00Z\nb,0,\nnope,1,\n"
    write_inbox(toy_config, "a.csv", csv)
    parquet = Path(labels.labels_uri(toy_config), "c.parquet")
    pd.DataFrame({"request_id": ["c"], "label": [1]}).to_parquet(parquet)
    write_inbox(toy_config, "b.parquet", parquet.read_bytes())
    write_inbox(toy_config, "c.parquet", b"PAR1 truncated")
    write_inbox(toy_config, "d.csv", b"id,label\nb,1\n")
    write_inbox(toy_config, ".hidden.csv", csv)
    write_inbox(toy_config, "e.csv.part", csv)

    results = dict(labels.ingest_inbox(toy_config))
    assert sorted(results) == ["a.csv", "b.parquet", "c.parquet", "d.csv"]
    assert (results["a.csv"].accepted, results["a.csv"].unknown_ids) == (2, 1)
    assert results["b.parquet"].accepted == 1
    assert "moved to rejected/" in str(results["d.csv"].note) and "missing column 'request_id'" in str(
        results["d.csv"].note)
    assert labels.read_labels(toy_config)[inference_log.REQUEST_ID].tolist() == ["007", "b", "c"]

    root = Path(labels.labels_uri(toy_config))
    assert sorted(p.name for p in (root / "inbox").iterdir()) == [".hidden.csv", "e.csv.part"]
    processed = sorted(p.name.split("--")[-1] for p in (root / "processed").iterdir())
    assert processed == ["a.csv", "b.parquet"]
    rejected = sorted(p.name.split("--", 1)[-1] for p in (root / "rejected").iterdir() if "--" in p.name)
    assert rejected == ["c.parquet", "c.parquet.reason.json", "d.csv", "d.csv.reason.json"]
    reason = json.loads(next((root / "rejected").glob("*--c.parquet.reason.json")).read_text())
    assert reason["file"] == "c.parquet" and "not a readable parquet file" in reason["reason"]
    assert next((root / "rejected").glob("*--c.parquet")).read_bytes() == b"PAR1 truncated"  # kept as it was

    write_inbox(toy_config, "a-again.csv", csv)  # the same content under another name
    files = log_files(toy_config)
    again = dict(labels.ingest_inbox(toy_config))
    assert again["a-again.csv"].received == 0 and "already processed as processed/" in str(again["a-again.csv"].note)
    assert log_files(toy_config) == files
    assert not (root / "inbox" / "a-again.csv").exists()
