"""`mlops validate [--init] MODEL DATA`: output and exit codes (0 passed, 1 failed, 2 bad usage or input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_provider.demo import credit
from mlops_provider.validation.cli import main


@pytest.fixture
def corrupt_csv(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.csv"
    credit.generate(2000, seed=3, corrupt=True).to_csv(path, index=False)
    return path


def test_default_data_passes(demo_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["credit_default"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK model 'credit_default': all 44 expectations of suite 'credit_default' passed")
    assert f"(5000 rows of {demo_env}/credit_default/train.parquet)" in out


def test_failed_expectations_exit_1_with_the_message(corrupt_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["credit_default", str(corrupt_csv)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED model 'credit_default': 3 of 44 expectations failed: column 'age' ")
    assert "column 'region' unexpected values {'XX'}" in out


def test_json_summary(corrupt_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["credit_default", str(corrupt_csv), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["failed"] == 3 and summary["data_uri"] == str(corrupt_csv)


@pytest.mark.parametrize(("args", "problem"), [
    (["credit_default", "{tmp}/nowhere.parquet"], "data file file://{tmp}/nowhere.parquet does not exist"),
    (["credit_default", "{tmp}/empty.csv"], "data file file://{tmp}/empty.csv is empty"),
    (["credit_default", "{tmp}/notes.txt"], "unsupported format '.txt'"),
    (["no_such_model", "{tmp}/empty.csv"], "model 'no_such_model' has no config file"),
])
def test_unreadable_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                  problem: str) -> None:
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "notes.txt").write_text("x")
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlops validate: error: ") and problem.format(tmp=tmp_path) in err


def test_invalid_suite_exits_2(demo_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLOPS_EXPECTATIONS_DIR", str(tmp_path))
    (tmp_path / "credit_default.json").write_text('{"name": "credit_default", "expectations": [}')
    assert main(["credit_default"]) == 2
    assert f"expectation suite {tmp_path}/credit_default.json: not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize("args", [[], ["--bogus", "credit_default"], ["credit_default", "--force"]])
def test_bad_usage_exits_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert "usage: mlops validate" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "exit status: 0 passed, 1 expectations failed, 2 bad usage" in capsys.readouterr().out


def test_init_writes_a_suite_and_refuses_to_overwrite(demo_env: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLOPS_EXPECTATIONS_DIR", str(tmp_path))
    target = tmp_path / "credit_default.json"

    assert main(["--init", "credit_default"]) == 0
    assert f"Wrote 44 expectations for model 'credit_default' to {target}" in capsys.readouterr().out
    assert json.loads(target.read_text())["name"] == "credit_default"

    assert main(["--init", "credit_default"]) == 2
    assert "already exists (use --force to overwrite)" in capsys.readouterr().err
    assert main(["--init", "credit_default", "--force"]) == 0
    assert main(["credit_default"]) == 0  # the fresh suite passes the data it came from


def test_init_output_path(demo_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "sub" / "bc.json"
    assert main(["--init", "breast_cancer", "--output", str(target)]) == 0
    assert len(json.loads(target.read_text())["expectations"]) == 95
