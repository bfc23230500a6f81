"""The demo's process bookkeeping: pid files, a process that dies while the demo waits for it, step logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlops_provider.demo import processes
from mlops_provider.netutil import free_port


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

    processes.start("alive", [sys.executable, "-c", "import time; time.sleep(30)"], free_port())
    pid = processes.running("alive")
    try:
        assert pid is not None and processes.running("alive") == pid
    finally:
        processes.stop("alive")
    assert processes.running("alive") is None and not processes.pid_file("alive").exists()


@pytest.mark.parametrize("record", ["{pid}", '{{"pid": {pid}, "stamp": "another-boot:12345", "marker": "mlflow"}}'])
def test_a_pid_file_naming_an_unrelated_process_is_removed_and_the_process_left_alone(
        demo_dir: Path, record: str, capsys: pytest.CaptureFixture[str]) -> None:
    """After a reboot the pid of a pid file may belong to anything: `mlops demo down` must not signal it."""
    unrelated = subprocess.Popen(["sleep", "60"], start_new_session=True)  # its own group, as ours would be
    try:
        processes.pid_file("mlflow").write_text(record.format(pid=unrelated.pid))
        processes.stop("mlflow")
        assert unrelated.poll() is None  # still alive: neither it nor its group was signalled
        assert not processes.pid_file("mlflow").exists()
        assert f"names pid {unrelated.pid}, which is no longer mlflow" in capsys.readouterr().out
    finally:
        unrelated.kill()
        unrelated.wait()


def test_waiting_for_a_process_that_is_not_running_names_its_log(demo_dir: Path) -> None:
    with pytest.raises(processes.DemoError, match=r"mlflow exited; see .demo/logs/mlflow.log"):
        processes.wait_http("http://127.0.0.1:9/health", "mlflow", timeout=5)


def test_a_failed_step_names_its_exit_code_and_log(demo_dir: Path) -> None:
    with pytest.raises(processes.DemoError, match=r"broken failed \(exit 3\); see broken.log"):
        processes.run_or_fail("broken", [sys.executable, "-c", "print('why'); raise SystemExit(3)"])
    assert "why" in (demo_dir / "broken.log").read_text()
    assert processes.run("fine", [sys.executable, "-c", "pass"]) == 0
