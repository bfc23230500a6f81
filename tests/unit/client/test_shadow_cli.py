"""`mlops shadow`: usage errors (2), a target that is not there (1), a report with nothing to report (1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_provider import cli


def shadow(*args: str) -> int:
    return cli.main(["shadow", *args])


def test_a_version_is_needed_to_start_or_report(toy_model: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert shadow(toy_model) == 2
    assert "give the VERSION to shadow" in capsys.readouterr().err
    assert shadow(toy_model, "v4") == 2
    assert shadow(toy_model, "4", "--report", "--hours", "0") == 2
    assert shadow(toy_model, "4", "--stop", "--report") == 2  # one action at a time


def test_an_unknown_model_is_bad_usage(toy_model: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert shadow("no_such_model", "4") == 2
    assert "no_such_model" in capsys.readouterr().err


def test_no_local_server_is_a_failure_naming_it(toy_model: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    assert shadow(toy_model, "4", "--state-dir", str(state), "--tracking-uri", "http://127.0.0.1:9") == 1
    err = capsys.readouterr().err
    assert "model 'toy': no local model server is running" in err and str(state) in err
    assert shadow(toy_model, "--stop", "--state-dir", str(state)) == 1


def test_a_report_without_shadow_rows_fails_and_logs_nothing(toy_model: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = shadow(toy_model, "4", "--report", "--state-dir", str(tmp_path / "state"),
                  "--tracking-uri", "http://127.0.0.1:9")  # an MLflow that is not there: never asked
    assert code == 1
    captured = capsys.readouterr()
    assert "# Shadow report: toy v4" in captured.out
    assert "| rows shadowed (joined to a live row) | 0 (0) |" in captured.out
    assert "no shadow rows of v4 in the last 24 hour(s)" in captured.err
