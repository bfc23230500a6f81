"""Fixtures of the unit tests: a configured toy model whose inference log lives under tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

if TYPE_CHECKING:
    from mlops_provider.config import ModelConfig


@pytest.fixture
def toy_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A configured model `toy` (min_rows 50, 60-minute windows) whose inference log is under tmp_path."""
    folder = tmp_path / "models"
    folder.mkdir()
    config = {
        "name": "toy", "target": "label", "features": {"numeric": ["x"], "categorical": ["colour"]},
        "data": {"train": "toy/train.parquet", "inference": str(tmp_path / "inference")},
        "gate": {"minimum": 0.5}, "drift": {"min_rows": 50, "window_minutes": 60},
    }
    (folder / "toy.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(folder))
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    return "toy"


@pytest.fixture
def toy_config(toy_model: str) -> ModelConfig:
    from mlops_provider.config import load_model_config

    return load_model_config(toy_model, check_paths=False)
