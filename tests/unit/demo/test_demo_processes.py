"""The demo's process bookkeeping: pid files, a process that dies while the demo waits for it, step logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlops_provider.demo import processes


@pytest.fixture
def demo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo's folders under tmp_path instead of the project's `.demo/`."""
    monkeypatch.setattr(processes, "DEMO_DIR", tmp_path)
    monkeypatch.setattr(processes, "LOGS", tmp_path)
    monkeypatch.setattr(processes, "PROJECT_DIR", tmp_path)
    return tmp_path


def test_a_stale_pid_file_is_removed_and_a_live_one_kept(demo_dir: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    processes.pid_file("gone").write_text(str(dead.pid))
    assert processes.running("gone") is None
    assert not processes.pid_file("gone").exists()
    assert processes.running("never") is None

    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        processes.pid_file("alive").write_text(str(alive.pid))
        assert processes.running("alive") == alive.pid
    finally:
        alive.kill()
        alive.wait()


def test_waiting_for_a_process_that_is_not_running_names_its_log(demo_dir: Path) -> None:
    with pytest.raises(processes.DemoError, match=r"mlflow exited; see .demo/logs/mlflow.log"):
        processes.wait_http("http://127.0.0.1:9/health", "mlflow", timeout=5)


def test_a_failed_step_names_its_exit_code_and_log(demo_dir: Path) -> None:
    with pytest.raises(processes.DemoError, match=r"broken failed \(exit 3\); see broken.log"):
        processes.run_or_fail("broken", [sys.executable, "-c", "print('why'); raise SystemExit(3)"])
    assert "why" in (demo_dir / "broken.log").read_text()
    assert processes.run("fine", [sys.executable, "-c", "pass"]) == 0
