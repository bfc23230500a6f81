"""Buffered inference logging: windows by row count, by age, on close; a failed write loses nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_provider import inference_log
from mlops_provider.serving.logbuffer import InferenceLogBuffer


def add(buffer: InferenceLogBuffer, rows: int, version: str = "1") -> None:
    features = pd.DataFrame({"age": [30.0] * rows, "region": ["north"] * rows})
    buffer.add(features, [0] * rows, version, datetime.now(UTC))


def read_all(folder: Path) -> pd.DataFrame:
    return inference_log.read_windows(inference_log.list_windows(str(folder)))


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_window_is_written_once_enough_rows_wait(tmp_path: Path) -> None:
    buffer = InferenceLogBuffer(str(tmp_path), max_rows=10, max_seconds=3600)
    buffer.start()
    add(buffer, 4)
    add(buffer, 4)
    time.sleep(0.2)
    assert buffer.windows == []
    add(buffer, 4)
    wait_for(lambda: len(buffer.windows) == 1)
    buffer.close()
    frame = read_all(tmp_path)
    assert len(frame) == 12 and list(frame.columns) == ["age", "region", *inference_log.META_COLUMNS]


def test_a_window_is_written_when_the_oldest_row_is_old_enough(tmp_path: Path) -> None:
    buffer = InferenceLogBuffer(str(tmp_path), max_rows=1000, max_seconds=0.2)
    buffer.start()
    add(buffer, 3)
    wait_for(lambda: len(buffer.windows) == 1)
    buffer.close()
    assert len(read_all(tmp_path)) == 3


def test_close_writes_what_is_left(tmp_path: Path) -> None:
    buffer = InferenceLogBuffer(str(tmp_path), max_rows=1000, max_seconds=3600)
    buffer.start()
    add(buffer, 5, "1")
    add(buffer, 2, "2")
    assert buffer.close() is not None
    frame = read_all(tmp_path)
    assert frame[inference_log.VERSION].tolist() == ["1"] * 5 + ["2"] * 2
    assert buffer.rows_written == 7 and buffer.pending_rows == 0


def test_a_failed_write_keeps_the_rows_for_the_next_try(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = InferenceLogBuffer(str(tmp_path), max_rows=1000, max_seconds=3600)
    add(buffer, 3)

    def broken(*args: Any, **kwargs: Any) -> str:
        raise OSError("disk full")

    monkeypatch.setattr("mlops_provider.serving.logbuffer.write_window", broken)
    with pytest.raises(OSError, match="disk full"):
        buffer.flush()
    add(buffer, 2)
    assert buffer.pending_rows == 5
    monkeypatch.undo()
    buffer.flush()
    assert len(read_all(tmp_path)) == 5
