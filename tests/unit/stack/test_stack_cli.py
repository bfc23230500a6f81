"""`mlops stack`: what it does without starting anything (refusals and an empty folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_provider.cli import main


def test_up_without_local_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["stack", "up", "--dir", str(tmp_path)]) == 2
    assert "mlops stack up --local" in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "nothing was written"


def test_status_and_down_of_a_folder_without_a_stack(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["stack", "status", "--dir", str(tmp_path)]) == 1
    assert f"no stack in {tmp_path}" in capsys.readouterr().out
    assert main(["stack", "down", "--dir", str(tmp_path)]) == 0


def test_zero_workers_is_an_error_before_anything_starts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["stack", "up", "--local", "--workers", "0", "--dir", str(tmp_path / "s")]) == 2
    assert "--workers must be 1 or more, not 0" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
