"""`mlops settings apply`: airflow_settings.yaml (Astro CLI format) into a real Airflow metadata DB."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_provider.airflow_settings import apply_settings, load_settings
from mlops_provider.cli import main
from mlops_provider.exceptions import ConfigError
from tests.helpers.paths import ROOT


def test_project_settings_apply_and_reapply(airflow_db: Path) -> None:
    from airflow.models import Connection, Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    first = apply_settings(ROOT / "airflow_settings.yaml")
    again = apply_settings(ROOT / "airflow_settings.yaml", overrides={"mlflow_default": {"conn_host": "http://x:1"}})
    assert first == again
    assert "connection mlflow_default (mlflow)" in first
    with create_session() as session:
        conns = session.scalars(select(Connection).where(Connection.conn_id == "mlflow_default")).all()
        assert len(conns) == 1, "re-applying must update, not duplicate"
        assert conns[0].conn_type == "mlflow"
        assert conns[0].host == "http://x:1"
        assert conns[0].extra_dejson["ui_url"] == "http://127.0.0.1:5000"
    assert Variable.get("mlops_environment") == "local"


def test_cli_reports_what_it_applied(airflow_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings", "apply", str(ROOT / "airflow_settings.yaml")]) == 0
    assert "applied connection mlflow_default (mlflow)" in capsys.readouterr().out


@pytest.mark.parametrize(("text", "expected"), [
    ("connections: []", "expected a top-level key 'airflow'"),
    ("airflow: {connection: []}", "key 'airflow': unknown key(s) ['connection']"),
    ("airflow: {connections: [{conn_id: x}]}", "key 'airflow.connections[0]': needs conn_id and conn_type"),
    ("airflow: {connections: [{conn_id: x, conn_type: http, host: h}]}", "unknown key(s) ['host']"),
    ("airflow: {pools: [{pool_name: p, pool_slot: many}]}", "key 'airflow.pools[0]'"),
    ("airflow: [", "not valid YAML"),
])
def test_bad_settings_files_name_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_cli_bad_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings", "apply", str(tmp_path / "absent.yaml")]) == 2
    assert "absent.yaml: file does not exist" in capsys.readouterr().err


def test_cli_writes_demo_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    assert main(["demo-data", "--data-dir", str(tmp_path), "--rows", "300", "--corrupt"]) == 0
    frame = pd.read_parquet(tmp_path / "credit_default" / "train.parquet")
    assert len(frame) == 300
    assert (frame["age"] < 0).any() and (frame["region"] == "XX").any()
    assert "breast_cancer:" in capsys.readouterr().out


def test_mlops_validate_is_delegated_with_its_own_options(demo_data_dir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = demo_data_dir / "credit_default" / "train.parquet"
    assert main(["validate", "credit_default", str(data)]) == 0
    assert "all 44 expectations" in capsys.readouterr().out
    out = tmp_path / "suite.json"
    assert main(["validate", "--init", "credit_default", str(data), "--output", str(out)]) == 0
    assert out.exists()
    assert main(["validate", "credit_default", str(tmp_path / "absent.parquet")]) == 2
