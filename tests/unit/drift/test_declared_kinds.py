"""Declared feature kinds: a categorical feature is tested as categorical even when its values are mostly new."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_provider.drift import ReferenceProfile, detect_drift
from mlops_provider.exceptions import DriftError

CHANGED = ["purpose", "region", "home_ownership"]


@pytest.fixture(scope="module")
def total_change() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three categorical features whose every current value is new and unique: a total change."""
    rng = np.random.default_rng(1)
    rows = 600
    reference = pd.DataFrame({name: rng.choice(["a", "b", "c"], rows) for name in CHANGED})
    reference["income"] = rng.normal(0, 1, rows)
    current = pd.DataFrame({name: [f"{name}-{i}" for i in range(rows)] for name in CHANGED})
    current["income"] = rng.normal(0, 1, rows)
    return reference, current


def test_inferred_kinds_skip_them_as_text(total_change: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """What Evidently's inference alone does (kept as the default): the change goes unseen."""
    reference, current = total_change
    result = detect_drift(reference, current)
    assert set(result.skipped_columns) == set(CHANGED)
    assert not result.dataset_drifted


def test_declared_categorical_features_are_tested_and_drift(total_change: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = total_change
    kinds = {**{name: "categorical" for name in CHANGED}, "income": "numerical"}
    for side in (reference, ReferenceProfile.fit(reference)):
        result = detect_drift(side, current, columns=[*CHANGED, "income"], kinds=kinds)
        assert result.skipped_columns == {}
        assert {name for name, column in result.columns.items() if column.drifted} == set(CHANGED)
        assert result.dataset_drifted


def test_declared_kind_errors_name_the_column(total_change: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = total_change
    with pytest.raises(DriftError, match="column 'purpose' is declared numerical but holds object values"):
        detect_drift(reference, current, kinds={"purpose": "numerical"})
    with pytest.raises(DriftError, match="declared kinds must be 'numerical' or 'categorical'"):
        detect_drift(reference, current, kinds={"purpose": "text"})
    empty = current.assign(region=None)
    with pytest.raises(DriftError, match="column 'region' has no values in the current data"):
        detect_drift(reference, empty, kinds={"region": "categorical"})


def test_the_monitor_declares_every_configured_feature(demo_env: object) -> None:
    from mlops_provider.config import load_model_config
    from mlops_provider.monitoring import declared_kinds

    config = load_model_config("credit_default")
    kinds = declared_kinds(config)
    assert set(kinds) == set(config.features.all)
    assert {name for name, kind in kinds.items() if kind == "categorical"} == set(config.features.categorical)
    assert set(CHANGED) <= set(config.features.categorical)
