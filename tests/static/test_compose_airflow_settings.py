"""docker/airflow: the compose overrides of airflow_settings.yaml, rendered from the environment."""

from __future__ import annotations

import importlib.util
import os
import stat
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mlops_provider.airflow_settings import load_settings
from tests.helpers.paths import ROOT

TEMPLATE = ROOT / "docker/airflow/airflow_settings.compose.yaml"
ENV = {"MLFLOW_SERVICE_USERNAME": "mlops", "MLFLOW_SERVICE_PASSWORD": "p: #w'\"d}", "MLFLOW_UI_URL": "http://127.0.0.1:5000"}


@pytest.fixture(scope="module")
def renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_settings", ROOT / "docker/airflow/render_settings.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlflow_connection_points_at_the_compose_server_with_basic_auth(renderer: ModuleType,
                                                                        tmp_path: Path) -> None:
    rendered = tmp_path / "settings.yaml"
    rendered.write_text(renderer.render(TEMPLATE, ENV))
    settings = load_settings(rendered)
    conn = next(c for c in settings["connections"] if c["conn_id"] == "mlflow_default")
    assert conn["conn_type"] == "mlflow"
    assert conn["conn_host"] == "http://mlflow:5000", "the compose service name and MLflow's port"
    assert (conn["conn_login"], conn["conn_password"]) == ("mlops", ENV["MLFLOW_SERVICE_PASSWORD"])
    assert conn["conn_extra"] == {"ui_url": "http://127.0.0.1:5000"}


def test_the_compose_overrides_only_known_connections(renderer: ModuleType, tmp_path: Path) -> None:
    rendered = tmp_path / "settings.yaml"
    rendered.write_text(renderer.render(TEMPLATE, ENV))
    overrides = {c["conn_id"] for c in load_settings(rendered)["connections"]}
    base = {c["conn_id"] for c in load_settings(ROOT / "airflow_settings.yaml")["connections"]}
    assert overrides and overrides <= base, "the compose file should override, not invent, connections"


def test_every_placeholder_is_given_to_airflow_init(renderer: ModuleType, services: dict[str, Any],
                                                    env_example: dict[str, str]) -> None:
    import yaml

    needed = renderer.placeholders(yaml.safe_load(TEMPLATE.read_text()))
    assert needed == set(ENV)
    environment = services["airflow-init"]["environment"]
    for name in needed:
        assert name in environment, f"airflow-init does not pass {name}"
        assert name in env_example


def test_an_unset_variable_is_an_error_naming_it(renderer: ModuleType) -> None:
    with pytest.raises(ValueError, match="MLFLOW_SERVICE_PASSWORD"):
        renderer.render(TEMPLATE, {**ENV, "MLFLOW_SERVICE_PASSWORD": ""})


def test_the_rendered_file_is_private(renderer: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "rendered.yaml"
    assert renderer.main([str(TEMPLATE), str(out)]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    monkeypatch.delenv("MLFLOW_UI_URL")
    assert renderer.main([str(TEMPLATE), str(tmp_path / "other.yaml")]) == 1
