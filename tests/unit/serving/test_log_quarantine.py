"""The inference log never blocks on one window: a window its data cannot be written for is quarantined as JSON
lines and later windows go on; a storage failure keeps the rows, is retried with backoff and loses nothing; no
attempt leaves a partial or temporary file; all of it shows in /health and /version."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlops_provider import inference_log
from mlops_provider.serving.app import Service
from mlops_provider.serving.logbuffer import InferenceLogBuffer


def add(buffer: InferenceLogBuffer, purpose: Any, rows: int = 1) -> None:
    features = pd.DataFrame({"age": [30.0] * rows, "purpose": pd.Series([purpose] * rows, dtype=object)})
    buffer.add(features, [0] * rows, "1", datetime.now(UTC))


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_window_with_mixed_types_is_quarantined_and_later_windows_go_on(
        strict_service: Service, scoring: TestClient, log_folder: Path, files_under: Any) -> None:
    buffer = strict_service.buffer
    assert buffer is not None
    add(buffer, 5)  # as another writer than the server's coercion could hand it
    add(buffer, "car")
    assert buffer.flush() is None
    assert buffer.pending_rows == 0
    [aside] = buffer.quarantined
    lines = [json.loads(line) for line in Path(aside.removeprefix("file://")).read_text().splitlines()]
    assert [line["purpose"] for line in lines] == [5, "car"]
    assert "Conversion failed for column purpose" in lines[0]["mlops_quarantine_reason"]
    assert aside.startswith(f"file://{log_folder}/quarantine/")

    add(buffer, "car", rows=3)
    assert buffer.flush() is not None
    assert len(inference_log.read_windows(inference_log.list_windows(str(log_folder)))) == 3
    assert [f for f in files_under(log_folder) if f.rsplit("/", 1)[-1].startswith(".")] == []
    health = scoring.get("/health").json()
    assert health["status"] == "alive"
    assert health["inference_log"]["status"] == "quarantined"
    counters = scoring.get("/version").json()["inference_log"]
    assert (counters["quarantined_windows"], counters["quarantined_rows"], counters["rows_written"]) == (1, 2, 3)


def test_shutdown_never_raises_and_sets_aside_what_it_cannot_write(log_folder: Path) -> None:
    buffer = InferenceLogBuffer(str(log_folder), max_rows=1000, max_seconds=3600)
    buffer.start()
    add(buffer, 5)
    add(buffer, "car")
    assert buffer.close() is None
    assert buffer.counters.quarantined_rows == 2 and buffer.counters.rows_lost == 0


def test_a_full_disk_is_reported_retried_with_backoff_and_loses_nothing(log_folder: Path) -> None:
    attempts: list[float] = []

    def disk_full_three_times(folder: Any, frame: pd.DataFrame, **kwargs: Any) -> str:
        attempts.append(time.monotonic())
        if len(attempts) <= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return inference_log.write_window(folder, frame, **kwargs)

    buffer = InferenceLogBuffer(str(log_folder), max_rows=2, max_seconds=3600, writer=disk_full_three_times,
                                retry_seconds=0.1)
    buffer.start()
    add(buffer, "car", rows=2)
    wait_for(lambda: buffer.counters.write_failures >= 1)
    health = buffer.health()
    assert health["status"] == "failing" and "No space left on device" in health["last_error"]
    add(buffer, "home", rows=1)  # arrives while the disk is full
    wait_for(lambda: len(buffer.windows) == 1)
    buffer.close()
    gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:], strict=False)]
    assert len(attempts) == 4
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4  # backs off: 0.1, 0.2, 0.4 s
    assert buffer.counters.write_failures == 3 and buffer.health()["status"] == "ok"
    frame = inference_log.read_windows(inference_log.list_windows(str(log_folder)))
    assert frame["purpose"].tolist() == ["car", "car", "home"]


def test_a_write_the_file_system_refuses_midway_leaves_no_file(tmp_path: Path, files_under: Any) -> None:
    """A real failure from the kernel while the window is being written: a file size limit (EFBIG, what a full
    disk does to a write), set in a child process so nothing else is limited."""
    folder = tmp_path / "inference"
    script = textwrap.dedent(f"""
        import resource, signal
        from datetime import UTC, datetime
        import numpy as np, pandas as pd
        from mlops_provider.inference_log import write_window
        frame = pd.DataFrame({{"age": np.random.default_rng(0).random(200_000), "mlops_prediction": 0,
                               "mlops_version": "1", "mlops_timestamp": pd.Timestamp.now(tz="UTC")}})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            write_window({str(folder)!r}, frame)
        except OSError as err:
            print("refused", err.errno)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["refused", str(errno.EFBIG)], result.stderr[-2000:]
    assert files_under(folder) == []
    assert inference_log.list_windows(str(folder)) == []


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), PermissionError("denied")])
def test_admin_flush_during_a_storage_failure_is_503_and_keeps_the_rows(log_folder: Path, failure: OSError) -> None:
    from mlops_provider.config import load_model_config
    from mlops_provider.serving.app import create_admin_app
    from mlops_provider.serving.pool import ModelPool

    def refuse(*args: Any, **kwargs: Any) -> str:
        raise failure

    buffer = InferenceLogBuffer(str(log_folder), writer=refuse)
    service = Service(config=load_model_config("credit_default", check_paths=False), pool=ModelPool(str),
                      buffer=buffer)
    add(buffer, "car", rows=4)
    admin = TestClient(create_admin_app(service), client=("127.0.0.1", 1), base_url="http://127.0.0.1:8081")
    response = admin.post("/admin/flush")
    assert response.status_code == 503 and "rows wait for the next try" in response.json()["detail"]
    status = admin.get("/admin/status").json()
    assert status["log_pending_rows"] == 4 and status["inference_log"]["write_failures"] == 1
