"""Inference-log windows on disk: date and hour folders (old flat windows still found), a listing that lists only
the folders in range, corrupt or empty windows skipped with a warning naming them, retention."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_provider import inference_log
from mlops_provider.config import ModelConfig, parse_model_config
from mlops_provider.exceptions import ConfigError, DataError

NOW = datetime.now(UTC)


def window(folder: Path, rows: int = 3, start: datetime | None = None) -> str:
    frame = pd.DataFrame({"age": [30.0] * rows, "purpose": ["car"] * rows, inference_log.PREDICTION: [0] * rows,
                          inference_log.VERSION: ["1"] * rows, inference_log.TIMESTAMP: [NOW] * rows})
    return inference_log.write_window(str(folder), frame, start=start or NOW)


def flat_window(folder: Path, start: datetime, rows: int = 2) -> Path:
    """A window as the first layout wrote it: right in the inference folder (the existing demo data)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"window-{start:%Y%m%dT%H%M%S%f}-0000beef.parquet"
    pd.DataFrame({"age": [40.0] * rows, "purpose": ["home"] * rows, inference_log.PREDICTION: [1] * rows,
                  inference_log.VERSION: ["1"] * rows, inference_log.TIMESTAMP: [start] * rows}).to_parquet(path)
    return path


def test_windows_live_in_date_and_hour_folders_and_flat_ones_are_still_found(tmp_path: Path) -> None:
    written = window(tmp_path, start=datetime(2026, 11, 23, 9, 15, tzinfo=UTC))
    assert "/date=2026-11-23/hour=09/window-20261123T091500000000-" in written
    old = flat_window(tmp_path, datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    listed = inference_log.list_windows(tmp_path)  # a pathlib folder too: its URIs must open again
    assert [w.uri for w in listed] == [old.as_uri(), written]
    since = inference_log.list_windows(str(tmp_path), since=datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    assert [w.uri for w in since] == [written]
    assert len(inference_log.read_windows(listed)) == 5


def test_a_recent_listing_lists_only_the_folders_in_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """2,000 windows of the last weeks and one of now: a look at the last hour lists the inference folder, today's
    date folder and the hour folders in range, never the 80 old hour folders."""
    from airflow.sdk import ObjectStoragePath

    for i in range(2000):  # listing reads names only: empty files will do
        start = NOW - timedelta(days=3, hours=i // 25)
        hour = tmp_path / f"date={start:%Y-%m-%d}" / f"hour={start:%H}"
        hour.mkdir(parents=True, exist_ok=True)
        (hour / f"window-{start:%Y%m%dT%H%M%S}{i:06d}-{i:08x}.parquet").touch()
    recent = window(tmp_path)
    listed: list[str] = []
    real_iterdir = ObjectStoragePath.iterdir

    def spy(self: Any) -> Any:
        listed.append(str(self.path))
        return real_iterdir(self)

    monkeypatch.setattr(ObjectStoragePath, "iterdir", spy)
    assert [w.uri for w in inference_log.recent_windows(str(tmp_path), minutes=60, now=NOW)] == [recent]
    in_range = {str(tmp_path), *(str(tmp_path / f"date={t:%Y-%m-%d}") for t in (NOW - timedelta(hours=1), NOW)),
                *(str(tmp_path / f"date={t:%Y-%m-%d}" / f"hour={t:%H}") for t in (NOW - timedelta(hours=1), NOW))}
    assert set(listed) <= in_range and str(tmp_path) in listed
    assert len(listed) <= 4
    listed.clear()
    assert len(inference_log.list_windows(str(tmp_path))) == 2001
    assert len(listed) > 80  # listing all really is the expensive walk


def test_a_check_opens_the_windows_it_was_given_without_listing(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The drift check and its report get the trigger's window URIs: they open those, and list no folder."""
    from airflow.sdk import ObjectStoragePath

    older = window(tmp_path, start=NOW - timedelta(hours=3))
    newer = window(tmp_path, rows=4)
    listed: list[str] = []
    monkeypatch.setattr(ObjectStoragePath, "iterdir", lambda self: listed.append(str(self.path)) or iter(()))
    found = inference_log.windows_at([newer, older, str(tmp_path / "notes.txt")])
    assert [w.uri for w in found] == [older, newer] and listed == []
    assert len(inference_log.read_windows(found)) == 7


def test_corrupt_and_empty_windows_are_skipped_with_a_warning_naming_them(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from mlops_provider.config import load_model_config
    from mlops_provider.monitoring import current_features

    good = window(tmp_path, rows=4)
    good_path = Path(good.removeprefix("file://"))
    empty = good_path.with_name("window-20200101T000000000000-00000000.parquet")
    empty.touch()
    truncated = good_path.with_name("window-20200101T000000000001-00000001.parquet")
    truncated.write_bytes(good_path.read_bytes()[: good_path.stat().st_size // 2])
    windows = inference_log.list_windows(str(tmp_path))
    assert len(windows) == 3
    caplog.set_level(logging.WARNING, logger="mlops_provider.inference_log")
    assert inference_log.count_rows(windows) == 4
    assert empty.name in caplog.text and truncated.name in caplog.text
    caplog.clear()
    assert len(inference_log.read_windows(windows)) == 4
    assert empty.name in caplog.text and truncated.name in caplog.text
    config = load_model_config("credit_default", check_paths=False)
    partial = config.model_copy(update={"features": config.features.model_copy(
        update={"numeric": ["age"], "categorical": ["purpose"]})})
    assert list(current_features(partial, windows).columns) == ["age", "purpose"]
    with pytest.raises(DataError, match=f"none of the 2 inference window.*{empty.name}"):
        inference_log.read_windows([w for w in windows if w.uri != good])


def test_retention_days_is_a_drift_key_with_a_default(credit: ModelConfig) -> None:
    assert credit.drift.retention_days == 30
    raw = credit.model_dump(exclude={"source"})
    assert parse_model_config({**raw, "drift": {"retention_days": 7}}, "credit_default.yaml").drift.retention_days == 7
    assert parse_model_config({**raw, "drift": {"retention_days": None}},
                              "credit_default.yaml").drift.retention_days is None
    with pytest.raises(ConfigError, match="drift.retention_days"):
        parse_model_config({**raw, "drift": {"retention_days": 0}}, "credit_default.yaml")
    with pytest.raises(ConfigError, match="window_minutes"):
        parse_model_config({**raw, "drift": {"retention_days": 1, "window_minutes": 2000}}, "credit_default.yaml")


def test_the_server_deletes_windows_past_retention(credit: ModelConfig, tmp_path: Path, files_under: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_provider.serving.server import ServerOptions, build_service

    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path))
    config = credit.model_copy(update={"drift": credit.drift.model_copy(update={"retention_days": 2})})
    service = build_service(config, ServerOptions(model=config.name, tracking_uri="http://127.0.0.1:1"))
    buffer = service.buffer
    assert buffer is not None and buffer.retention_days == 2
    folder = Path(buffer.folder)
    kept = [window(folder, start=NOW), window(folder, start=NOW - timedelta(days=1, hours=23))]
    window(folder, start=NOW - timedelta(days=2, hours=2))
    window(folder, start=NOW - timedelta(days=9))
    flat_window(folder, NOW - timedelta(days=5))
    kept_flat = flat_window(folder, NOW - timedelta(hours=5))
    inference_log.quarantine(str(folder), pd.DataFrame({"age": [1]}), start=NOW - timedelta(days=4), reason="x")
    buffer.start()  # the writer's first sweep is at start, then hourly
    try:
        deadline = time.monotonic() + 10
        while buffer.counters.windows_deleted < 4:
            assert time.monotonic() < deadline, files_under(folder)
            time.sleep(0.02)
    finally:
        buffer.close()
    assert {w.uri for w in inference_log.list_windows(str(folder))} == {*kept, kept_flat.as_uri()}
    assert len(files_under(folder)) == 3
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("date=")) == sorted(
        {f"date={t:%Y-%m-%d}" for t in (NOW, NOW - timedelta(days=1, hours=23))})
