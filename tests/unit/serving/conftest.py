"""Fixtures of the model server tests: the server's real apps and inference log around a stand-in model that is as
strict about its input as a fitted scikit-learn pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlops_provider.config import ModelConfig, load_model_config
from mlops_provider.serving.app import Service, create_admin_app, create_app
from mlops_provider.serving.logbuffer import InferenceLogBuffer
from mlops_provider.serving.pool import ModelPool

LOOPBACK = ("127.0.0.1", 50000)


class StrictModel:
    """Predicts 1 for every row, after the checks a fitted pipeline makes: finite float numbers (NaN allowed),
    text categories, no duplicate column. What it refuses would be a 500, counted as a model error."""

    def __init__(self, version: str, config: ModelConfig) -> None:
        self.version = version
        self.config = config

    def predict(self, frame: Any) -> list[int]:
        if frame.columns.duplicated().any():
            raise ValueError("Feature names must be unique")
        numbers = frame[self.config.features.numeric].to_numpy(dtype="float64")
        if np.isinf(numbers).any():
            raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
        for column in self.config.features.categorical:
            if not all(value is None or isinstance(value, str) for value in frame[column]):
                raise TypeError(f"Encoders require their input argument {column} to be uniformly strings")
        return [1] * len(frame)


@pytest.fixture
def credit() -> ModelConfig:
    return load_model_config("credit_default", check_paths=False)


@pytest.fixture
def log_folder(tmp_path: Path) -> Path:
    return tmp_path / "inference"


@pytest.fixture
def strict_service(credit: ModelConfig, log_folder: Path) -> Service:
    pool = ModelPool(lambda version: StrictModel(version, credit))
    pool.load("1")
    return Service(config=credit, pool=pool, buffer=InferenceLogBuffer(str(log_folder), max_rows=100_000,
                                                                       max_seconds=3600))


@pytest.fixture
def scoring(strict_service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(strict_service), client=LOOPBACK) as client:
        yield client


@pytest.fixture
def admin_api(strict_service: Service) -> TestClient:
    return TestClient(create_admin_app(strict_service), client=LOOPBACK, base_url="http://127.0.0.1:8081")


@pytest.fixture
def credit_row(credit: ModelConfig) -> Any:
    """A valid request row of credit_default, with `changes` on top."""

    def make(**changes: Any) -> dict[str, Any]:
        values: dict[str, Any] = {c: 1.0 for c in credit.features.numeric}
        return {**values, **{c: "other" for c in credit.features.categorical}, **changes}

    return make


@pytest.fixture
def files_under() -> Any:
    """Every file below a folder, hidden ones included, relative to it."""

    def files(folder: Path) -> list[str]:
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())

    return files
