"""A slice column of the gate that only some batches hold fails when the batches are read, naming column and file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlops_provider.config import ModelConfig, parse_model_config
from mlops_provider.exceptions import DataError
from mlops_provider.training_data import training_batches
from tests.helpers.paths import ROOT

BASE = yaml.safe_load((ROOT / "include/models/credit_default.yaml").read_text())
GATE = {"criteria": [{"metric": "roc_auc", "minimum": 0.7},
                     {"slice": "branch", "metric": "roc_auc", "max_gap": 0.1}],
        "evaluation_columns": ["branch"]}


def config_for(tmp_path: Path, train: str, holdout: str | None) -> ModelConfig:
    data = {"train": str(tmp_path / train), "holdout": str(tmp_path / holdout) if holdout else None}
    raw = {**BASE, "gate": GATE, "data": data, "monitor": {}, "alerts": []}
    return parse_model_config(raw, str(tmp_path / "credit_default.yaml"))


@pytest.fixture
def batches(tmp_path: Path, demo_data_dir: Path) -> Path:
    frame = pd.read_parquet(demo_data_dir / "credit_default" / "train.parquet").head(800)
    frame.assign(branch=["a", "b"] * 400).to_parquet(tmp_path / "with.parquet", index=False)
    frame.to_parquet(tmp_path / "without.parquet", index=False)
    return tmp_path


def test_a_slice_column_missing_from_the_holdout_names_the_column_and_the_file(batches: Path) -> None:
    with pytest.raises(DataError) as caught:
        training_batches(config_for(batches, "with.parquet", "without.parquet"))
    message = str(caught.value)
    assert "holdout data" in message and str(batches / "without.parquet") in message
    assert "missing column(s) ['branch']" in message


def test_a_slice_column_missing_from_the_training_data_names_the_column_and_the_file(batches: Path) -> None:
    with pytest.raises(DataError, match=r"training data .*without\.parquet: missing column\(s\) \['branch'\]"):
        training_batches(config_for(batches, "without.parquet", "with.parquet"))


def test_batches_that_all_hold_it_keep_it_for_evaluation(batches: Path) -> None:
    split = training_batches(config_for(batches, "with.parquet", None))
    assert set(split.holdout["branch"]) == {"a", "b"}
