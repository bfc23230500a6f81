"""`mlops train`: what a pod or job reports when it cannot train (exit status 2: a retry fails the same way)."""

from __future__ import annotations

import pytest

from mlops_provider.cli import main


def test_an_unknown_model_exits_2_naming_it(toy_model: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "nope", "--dag-run-id", "manual__1", "--tracking-uri", "http://127.0.0.1:9"]) == 2
    assert "error: model 'nope' has no config file" in capsys.readouterr().err


def test_no_mlflow_server_exits_2_naming_the_option(toy_model: str, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["train", toy_model, "--dag-run-id", "manual__1"]) == 2
    assert "pass --tracking-uri or set MLFLOW_TRACKING_URI" in capsys.readouterr().err


def test_validation_must_be_a_json_object(toy_model: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["train", toy_model, "--dag-run-id", "manual__1", "--validation", "[1, 2]"])
    assert usage.value.code == 2 and "expected a JSON object" in capsys.readouterr().err
