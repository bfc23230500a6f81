"""Fixtures for the static checks of the compose stack: parsed files, nothing started (no Docker engine needed)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.helpers.paths import ROOT
from tests.helpers.stack_files import read_env_file


@pytest.fixture(scope="session")
def compose_text() -> str:
    return (ROOT / "docker-compose.yaml").read_text()


@pytest.fixture(scope="session")
def compose(compose_text: str) -> dict[str, Any]:
    document = yaml.safe_load(compose_text)
    assert isinstance(document, dict) and isinstance(document.get("services"), dict)
    return document


@pytest.fixture(scope="session")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return read_env_file(ROOT / ".env.example")
