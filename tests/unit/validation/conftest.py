"""Fixtures of the validation unit tests: the shipped suites and demo frames (no MLflow, no Airflow DB)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.paths import ROOT

pytest.importorskip("great_expectations")

EXPECTATIONS = ROOT / "include" / "expectations"


@pytest.fixture(scope="session")
def credit_suite() -> Any:
    from mlops_provider.validation.suite import load_suite

    return load_suite(EXPECTATIONS / "credit_default.json")


@pytest.fixture(scope="session")
def clean_credit() -> Any:
    from mlops_provider.demo import credit

    return credit.generate(2000, seed=21)


@pytest.fixture
def write_suite_file(tmp_path: Path) -> Any:
    """Write a suite file and return its path: `write_suite_file(text_or_dict, name=...)`."""
    import json

    def write(content: Any, name: str = "suite.json") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path

    return write
