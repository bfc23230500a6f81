"""Scoring a model on the holdout: a metric the holdout cannot support is a clear error naming model and target."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from mlops_provider.exceptions import EvaluationError
from mlops_provider.training.metrics import score


def test_one_class_holdout_is_a_clear_error() -> None:
    holdout = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1, 1, 1]})
    model = DummyClassifier().fit(pd.DataFrame({"x": [0.0, 1.0]}), [0, 1])
    expected = r"candidate: holdout has only one class of 'y' \(1\): roc_auc needs at least two"
    with pytest.raises(EvaluationError, match=expected):
        score(model, holdout, target="y", features=["x"], metric="roc_auc", label="candidate")
