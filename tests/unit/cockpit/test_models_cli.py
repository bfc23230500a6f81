"""`mlops models`: the table and the JSON from the real MLflow test server, and its errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_provider.cli import main
from tests.helpers.model_history import History


def test_table_names_champion_serving_drift_and_retraining(history: History, mlflow_server: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--tracking-uri", mlflow_server, "--airflow-url", "http://af:8080"]) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert header.split()[:3] == ["model", "champion", "challenger"]
    assert row.startswith(f"{history.model}  v1 roc_auc 0.9100 registered ")
    assert "local v1" in row and "DRIFT" in row and "drift " in row and "-> v2" in row
    assert f"{mlflow_server}/#/models/{history.model}/versions/1" in out
    assert "http://af:8080/dag_runs?run_id_pattern=manual__run2" in out


def test_json_is_the_page_api_shape(history: History, mlflow_server: str, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    assert main(["models", "--json", "--mlflow-ui-url", "http://ui.example"]) == 0
    models = json.loads(capsys.readouterr().out)["models"]
    assert [m["model"] for m in models] == [history.model]
    assert models[0]["champion"]["url"] == f"http://ui.example/#/models/{history.model}/versions/1"
    assert models[0]["production"]["verdict"] == "ok" and models[0]["serving"] == {"local": "1"}


def test_a_broken_config_is_a_row_with_its_error(history: History, mlflow_server: str, private_model: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.settings import models_dir

    (models_dir() / "cockpit_bad.yaml").write_text("name: [unclosed\n")
    assert main(["models", "--tracking-uri", mlflow_server]) == 0
    out = capsys.readouterr().out
    assert "cockpit_bad: error: " in out and "cockpit_bad.yaml: not valid YAML" in out


def test_unreachable_mlflow_and_bad_usage_exit_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_provider.netutil import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    assert main(["models", "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: MLflow at {uri} is unreachable") and "Traceback" not in err
    assert main(["models", "--colour"]) == 2
    assert "unrecognized arguments: --colour" in capsys.readouterr().err


def test_help_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "mlops models --json" in out and "exit codes: 0" in out
