"""The assembled training set: a file, a window of dated partitions, labelled production rows (inference log
windows joined with the labels log); its digest, sources and errors (the toy model of tests/unit/conftest.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_provider import inference_log, labels
from mlops_provider.config import ModelConfig
from mlops_provider.data import digest, load_batches
from mlops_provider.exceptions import DataError
from mlops_provider.training_data import (
    assemble_training_set,
    data_to_validate,
    fit_labels,
    read_training_data,
    run_time,
    training_batches,
)
from tests.helpers.training_sets import configured, deliver, log_predictions, toy_rows, write_partition

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def partitioned(toy_config: ModelConfig, tmp_path: Path) -> Path:
    """`<data>/toy/parts`: 2026-03-01 .. 2026-03-06 (the last after NOW), 100 rows a day; 03-04 has a CSV too."""
    root = tmp_path / "data" / "toy" / "parts"
    for i, day in enumerate(["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"]):
        write_partition(root, day, toy_rows(100, seed=i))
    write_partition(root, "2026-03-04", toy_rows(10, seed=99), "part-1.csv")
    (root / "date=2026-03-04" / "_SUCCESS").write_text("")
    (root / "date=2026-03-04" / ".part-2.parquet.tmp").write_bytes(b"half a file")
    (root / "notes").mkdir()
    return root


def test_a_file_is_read_as_today(toy_config: ModelConfig, tmp_path: Path) -> None:
    path = tmp_path / "data" / "toy" / "train.parquet"
    path.parent.mkdir(parents=True)
    toy_rows(200, seed=1).to_parquet(path, index=False)

    assembled = assemble_training_set(toy_config, now=NOW)

    pd.testing.assert_frame_equal(assembled.frame, pd.read_parquet(path))
    assert assembled.digest == digest(pd.read_parquet(path))
    assert assembled.sources == [{"uri": str(path), "rows": 200, "kind": "file", "digest": assembled.digest}]
    assert assembled.summary == "file train.parquet: 200 rows"
    train, holdout, data_digest, uri = load_batches(toy_config)
    assert (len(train), len(holdout), data_digest, uri) == (160, 40, assembled.digest, str(path))


@pytest.mark.parametrize(("now", "days", "expected"), [
    (NOW, 2, ["2026-03-03", "2026-03-04", "2026-03-05"]),  # [03-03 12:00, 03-05 12:00) overlaps three days
    (datetime(2026, 3, 5, tzinfo=UTC), 2, ["2026-03-03", "2026-03-04"]),  # a midnight run: two whole days
    (NOW, None, ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]),  # never the future
])
def test_partitions_of_the_window(toy_config: ModelConfig, partitioned: Path, now: datetime, days: int | None,
                                  expected: list[str]) -> None:
    config = configured(toy_config, train="toy/parts", window_days=days)

    assembled = assemble_training_set(config, now=now)

    assert [s["kind"] for s in assembled.sources] == ["partition"] * (len(expected) + 1)  # 03-04 holds two files
    days_read = sorted({s["uri"].split("date=")[1][:10] for s in assembled.sources})
    assert days_read == expected
    assert [s["uri"].rsplit("/", 1)[1] for s in assembled.sources if "2026-03-04" in s["uri"]] == [
        "part-0.parquet", "part-1.csv"]
    assert len(assembled.frame) == 100 * len(expected) + 10
    expected_rows = pd.concat([pd.read_parquet(partitioned / f"date={d}" / "part-0.parquet") if d != "2026-03-04"
                               else pd.concat([pd.read_parquet(partitioned / f"date={d}" / "part-0.parquet"),
                                               pd.read_csv(partitioned / f"date={d}" / "part-1.csv")])
                               for d in expected], ignore_index=True)
    pd.testing.assert_frame_equal(assembled.frame, expected_rows)
    assert assembled.uri.endswith("/toy/parts")
    assert assembled.summary == (f"{len(expected)} partitions {expected[0]}..{expected[-1]}: "
                                 f"{100 * len(expected) + 10} rows")


def test_the_same_inputs_give_the_same_digest(toy_config: ModelConfig, partitioned: Path) -> None:
    config = configured(toy_config, train="toy/parts", window_days=3)

    first, again = training_batches(config, now=NOW), training_batches(config, now=NOW)

    assert first.training_set.digest == again.training_set.digest
    pd.testing.assert_frame_equal(first.holdout, again.holdout)
    later = assemble_training_set(config, now=NOW + timedelta(days=1))
    assert later.digest != first.training_set.digest, "a day later, the window holds other partitions"


def test_an_empty_window_names_the_folder_and_the_window(toy_config: ModelConfig, partitioned: Path) -> None:
    config = configured(toy_config, train="toy/parts", window_days=7)

    with pytest.raises(DataError) as err:
        assemble_training_set(config, now=datetime(2026, 5, 1, tzinfo=UTC))

    assert str(err.value) == (f"model 'toy': no training rows in {partitioned} for the window [2026-04-24 00:00, "
                              "2026-05-01 00:00) UTC (data.window_days: 7): no date=YYYY-MM-DD partition with rows")


def test_an_empty_window_without_feedback_rows_says_so(toy_config: ModelConfig, partitioned: Path) -> None:
    config = configured(toy_config, train="toy/parts", window_days=1, feedback=True)

    with pytest.raises(DataError, match=r"window \[2026-04-30 00:00, 2026-05-01 00:00\) UTC .* partition with rows "
                                        r"and no labelled production rows"):
        assemble_training_set(config, now=datetime(2026, 5, 1, tzinfo=UTC))


def test_a_missing_column_is_named_with_its_file(toy_config: ModelConfig, partitioned: Path) -> None:
    bad = write_partition(partitioned, "2026-03-05", toy_rows(5, seed=3).drop(columns=["colour"]), "part-9.parquet")
    config = configured(toy_config, train="toy/parts", window_days=2)

    with pytest.raises(DataError, match=rf"^model 'toy': training data file://{bad}: missing column\(s\) \['colour'\]"):
        assemble_training_set(config, now=NOW)


def test_an_unreadable_partition_file_is_named(toy_config: ModelConfig, partitioned: Path) -> None:
    broken = partitioned / "date=2026-03-05" / "part-1.parquet"
    broken.write_bytes(b"not parquet")
    config = configured(toy_config, train="toy/parts", window_days=2)

    with pytest.raises(DataError, match=rf"{broken} is not a readable parquet file"):
        assemble_training_set(config, now=NOW)


def test_an_empty_partition_file_counts_no_rows(toy_config: ModelConfig, partitioned: Path) -> None:
    (partitioned / "date=2026-03-05" / "part-1.csv").write_text("")
    config = configured(toy_config, train="toy/parts", window_days=1)

    assembled = assemble_training_set(config, now=NOW)

    assert [(s["uri"].rsplit("/", 1)[1], s["rows"]) for s in assembled.sources] == [
        ("part-0.parquet", 100), ("part-1.csv", 10), ("part-0.parquet", 100), ("part-1.csv", 0)]
    assert len(assembled.frame) == 210


@pytest.fixture
def feedback_config(toy_config: ModelConfig, tmp_path: Path) -> ModelConfig:
    """toy with a training file (200 rows) and `data.feedback`, 3-day window; production predictions on 03-01
    (outside the window) and 03-04 (inside), labelled on 03-05 at 09:00, and unlabelled ones on 03-04."""
    path = tmp_path / "data" / "toy" / "train.parquet"
    path.parent.mkdir(parents=True)
    toy_rows(200, seed=1).to_parquet(path, index=False)
    config = configured(toy_config, feedback=True, window_days=3)
    old = toy_rows(30, seed=5)
    fresh = toy_rows(40, seed=6)
    old_ids = log_predictions(config, old, start=datetime(2026, 3, 1, 8, tzinfo=UTC), prefix="old")
    fresh_ids = log_predictions(config, fresh, start=datetime(2026, 3, 4, 8, tzinfo=UTC), prefix="new")
    log_predictions(config, toy_rows(25, seed=7), start=datetime(2026, 3, 4, 10, tzinfo=UTC), prefix="unlabelled")
    at = datetime(2026, 3, 5, 9, tzinfo=UTC)
    deliver(config, old_ids, old["label"].tolist(), at=at)
    deliver(config, fresh_ids, fresh["label"].tolist(), at=at)
    return config


def test_feedback_rows_of_the_window_are_added(feedback_config: ModelConfig, tmp_path: Path) -> None:
    assembled = assemble_training_set(feedback_config, now=NOW)

    assert len(assembled.frame) == 240, "the file's 200 rows and the 40 labelled predictions of the window"
    assert list(assembled.frame.columns) == ["x", "colour", "label"]
    fresh = toy_rows(40, seed=6)
    added = assembled.frame.iloc[200:].reset_index(drop=True)
    pd.testing.assert_frame_equal(added, fresh.astype({"x": "float64", "colour": "object"}))
    kinds = [(s["kind"], s["rows"]) for s in assembled.sources]
    assert kinds == [("file", 200), ("feedback", 40)]
    feedback = assembled.sources[1]
    assert feedback["uri"] == str(tmp_path / "inference")
    assert (feedback["start"], feedback["end"], feedback["dropped"]) == (
        "2026-03-02T12:00:00+00:00", "2026-03-05T12:00:00+00:00", 0)
    assert feedback["digest"] == digest(added)
    assert assembled.summary == "file train.parquet: 200 rows + feedback [2026-03-02T12:00, 2026-03-05T12:00): 40 rows"


def test_feedback_changes_the_digest_and_a_retry_keeps_it(feedback_config: ModelConfig) -> None:
    without = assemble_training_set(configured(feedback_config, feedback=False), now=NOW)
    first = assemble_training_set(feedback_config, now=NOW)
    retry = assemble_training_set(feedback_config, now=NOW)

    assert first.digest != without.digest
    assert retry.digest == first.digest and retry.sources == first.sources
    all_time = assemble_training_set(configured(feedback_config, window_days=None), now=NOW)
    assert [s["rows"] for s in all_time.sources] == [200, 70], "without a window: every labelled prediction"


def test_the_holdout_never_leaks_across_versions(feedback_config: ModelConfig) -> None:
    """The file's rows split as without feedback (an earlier champion's holdout stays its holdout), and a
    production row goes to the holdout by its request id, whatever else the set holds."""
    from mlops_provider.training_data import held_out, training_batches

    without = training_batches(configured(feedback_config, feedback=False), now=NOW)
    narrow = training_batches(feedback_config, now=NOW)
    wide = training_batches(configured(feedback_config, window_days=None), now=NOW)

    for batches in (narrow, wide):
        pd.testing.assert_frame_equal(batches.holdout.iloc[:len(without.holdout)], without.holdout)
        pd.testing.assert_frame_equal(batches.train.iloc[:len(without.train)], without.train)
        ids = batches.training_set.feedback_ids
        held = sum(held_out(i, feedback_config.data.holdout_fraction) for i in ids)
        assert 0 < held < len(ids)
        assert len(batches.holdout) == len(without.holdout) + held
        assert len(batches.train) == len(without.train) + len(ids) - held
    assert set(narrow.training_set.feedback_ids) < set(wide.training_set.feedback_ids)


def test_labels_not_yet_known_at_the_run_time_are_left_out(feedback_config: ModelConfig) -> None:
    before_labels = assemble_training_set(feedback_config, now=datetime(2026, 3, 5, 8, tzinfo=UTC))

    assert [(s["kind"], s["rows"]) for s in before_labels.sources] == [("file", 200), ("feedback", 0)]
    assert len(before_labels.frame) == 200


def test_feedback_labels_that_do_not_fit_the_target_are_dropped_and_counted(
        feedback_config: ModelConfig, caplog: pytest.LogCaptureFixture) -> None:
    ids = log_predictions(feedback_config, toy_rows(3, seed=8), start=datetime(2026, 3, 4, 11, tzinfo=UTC),
                          prefix="odd")
    at = datetime(2026, 3, 5, 10, tzinfo=UTC)
    labels.store.write_log_file(feedback_config, pd.DataFrame({  # the labels log's own writer, past the checks
        inference_log.REQUEST_ID: ids,
        labels.LABEL: [1.0, 0.5, float("nan")], labels.LABEL_TIME: pd.Timestamp(at), labels.RECEIVED: pd.Timestamp(at),
        labels.SOURCE: "test"}), at)

    assembled = assemble_training_set(feedback_config, now=NOW)

    feedback = assembled.sources[1]
    assert (feedback["rows"], feedback["dropped"]) == (41, 2)
    assert assembled.frame["label"].dtype == "int64"
    assert "2 row(s) dropped, their label does not fit the target 'label' (int64)" in caplog.text
    assert assembled.summary.endswith("41 rows (2 dropped)")


def test_feedback_rows_missing_a_feature_are_named(feedback_config: ModelConfig, tmp_path: Path) -> None:
    narrow = configured(feedback_config, inference=str(tmp_path / "narrow"))
    frame = pd.DataFrame({"x": [1.0], inference_log.PREDICTION: 0, inference_log.VERSION: "1",
                          inference_log.TIMESTAMP: [datetime(2026, 3, 4, 12, tzinfo=UTC)],
                          inference_log.REQUEST_ID: ["narrow-0"], inference_log.SCORE: 0.5})
    inference_log.write_window(inference_log.inference_uri(narrow), frame, start=datetime(2026, 3, 4, 12, tzinfo=UTC))
    deliver(narrow, ["narrow-0"], [1], at=datetime(2026, 3, 5, 9, tzinfo=UTC))

    with pytest.raises(DataError, match=rf"^model 'toy': labelled production rows of {tmp_path}/narrow "
                                        r"\[2026-03-02 12:00, 2026-03-05 12:00\): missing column\(s\) \['colour'\]"):
        assemble_training_set(narrow, now=NOW)


def test_feedback_only_from_a_folder_without_partitions(feedback_config: ModelConfig, tmp_path: Path) -> None:
    (tmp_path / "data" / "toy" / "empty").mkdir()
    config = configured(feedback_config, train="toy/empty")

    assembled = assemble_training_set(config, now=NOW)

    assert [(s["kind"], s["rows"]) for s in assembled.sources] == [("feedback", 40)]
    assert assembled.frame["label"].dtype == "int64"
    assert assembled.summary.startswith("no partitions + feedback")


def test_the_holdout_file_when_given(feedback_config: ModelConfig, tmp_path: Path) -> None:
    holdout = tmp_path / "data" / "toy" / "holdout.csv"
    toy_rows(50, seed=9).to_csv(holdout, index=False)
    config = configured(feedback_config, holdout="toy/holdout.csv")

    batches = training_batches(config, now=NOW)

    assert len(batches.train) == 240 and len(batches.holdout) == 50
    assert batches.training_set.digest == assemble_training_set(config, now=NOW).digest


def test_validation_validates_the_assembled_set(feedback_config: ModelConfig) -> None:
    validated = data_to_validate(feedback_config, None, now=NOW)
    trained = training_batches(feedback_config, now=NOW).training_set

    assert validated.digest == trained.digest and len(validated.frame) == 240
    explicit = data_to_validate(feedback_config, trained.uri, now=NOW)
    assert len(explicit.frame) == 200 and explicit.sources[0]["kind"] == "file"


@pytest.mark.parametrize(("values", "target", "task", "expected", "fits"), [
    ([1, 0, 1], pd.Series([0, 1]), "classification", [1, 0, 1], [True, True, True]),
    ([1.0, 0.5, None], pd.Series([0, 1]), "classification", [1, 0, 0], [True, False, False]),
    (["1", "yes", "0"], pd.Series([0, 1]), "classification", [1, 0, 0], [True, False, True]),
    ([True, False], pd.Series([0, 1]), "classification", [1, 0], [True, True]),
    (["true", "0", "maybe"], pd.Series([True, False]), "classification", [True, False, False], [True, True, False]),
    ([2.5, "x", float("inf")], pd.Series([0.1]), "regression", [2.5, 0.0, 0.0], [True, False, False]),
    (["a", None], pd.Series(["a", "b"]), "classification", ["a", None], [True, False]),
    ([1, 0], None, "classification", [1, 0], [True, True]),
    ([1.5, 2], None, "regression", [1.5, 2.0], [True, True]),
])
def test_fit_labels(values: list[Any], target: pd.Series | None, task: str, expected: list[Any],
                    fits: list[bool]) -> None:
    fitted, ok = fit_labels(pd.Series(values, dtype=object), target, task=task)

    assert ok.tolist() == fits
    assert [v for v, good in zip(fitted.tolist(), fits, strict=True) if good] == [
        v for v, good in zip(expected, fits, strict=True) if good]
    assert fitted.dtype == (target.dtype if target is not None else pd.Series(expected).dtype)


def test_read_training_data_reads_a_file_or_every_partition(toy_config: ModelConfig, partitioned: Path) -> None:
    assert len(read_training_data(str(partitioned))) == 610
    assert len(read_training_data(str(partitioned / "date=2026-03-01" / "part-0.parquet"))) == 100
    with pytest.raises(DataError, match="no date=YYYY-MM-DD partition with rows"):
        read_training_data(str(partitioned / "notes"))


def test_run_time_is_the_logical_date_else_run_after() -> None:
    class Run:
        run_after = NOW

    assert run_time({"logical_date": NOW - timedelta(days=1), "dag_run": Run()}) == NOW - timedelta(days=1)
    assert run_time({"logical_date": None, "dag_run": Run()}) == NOW
    assert run_time({"run_id": "manual__x"}) is None


def test_the_sources_are_json(feedback_config: ModelConfig) -> None:
    sources = assemble_training_set(feedback_config, now=NOW).sources
    assert json.loads(json.dumps(sources)) == sources


def test_the_data_gate_leaves_the_columns_to_its_suite(toy_config: ModelConfig, partitioned: Path) -> None:
    bad = write_partition(partitioned, "2026-03-05", toy_rows(5, seed=3).drop(columns=["colour"]), "part-9.parquet")
    config = configured(toy_config, train="toy/parts", window_days=2)

    validated = data_to_validate(config, now=NOW)  # the suite will say a column has nulls

    assert validated.frame["colour"].isna().sum() == 5
    with pytest.raises(DataError, match=f"training data file://{bad}: missing column"):
        training_batches(config, now=NOW)
