"""Fixtures of the remote-runner tests: the fake Kubernetes API server and a toy model with training data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.fake_k8s import FakeKubernetes, fake_cluster
from tests.helpers.training_sets import toy_rows


@pytest.fixture
def cluster() -> Iterator[tuple[FakeKubernetes, Any]]:
    """The fake API server and a `kubernetes.client.ApiClient` talking to it."""
    with fake_cluster() as started:
        yield started


@pytest.fixture
def toy_with_data(toy_model: str, tmp_path: Path) -> str:
    """`toy` with 300 rows of training data where its config says."""
    path = tmp_path / "data" / "toy" / "train.parquet"
    path.parent.mkdir(parents=True)
    toy_rows(300, seed=1).to_parquet(path, index=False)
    return toy_model
