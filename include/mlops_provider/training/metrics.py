"""Score a model on a holdout with the gate's metric; errors say which model and why."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_provider.exceptions import EvaluationError

if TYPE_CHECKING:
    import pandas as pd

PROBABILITY_METRICS = {"roc_auc", "log_loss"}


def score(model: Any, holdout: pd.DataFrame, *, target: str, features: list[str], metric: str,
          label: str) -> float:
    """The metric of `model` on `holdout`; `label` names the model in errors ("candidate", "champion v3")."""
    from sklearn import metrics as skm

    y = holdout[target]
    if metric in PROBABILITY_METRICS | {"accuracy", "f1", "precision", "recall"} and y.nunique() < 2:
        only = y.iloc[0].item() if hasattr(y.iloc[0], "item") else y.iloc[0]
        raise EvaluationError(
            f"{label}: holdout has only one class of '{target}' ({only!r}): {metric} needs at least two; "
            "use a larger or stratified holdout"
        )
    X = holdout[features]
    try:
        if metric in PROBABILITY_METRICS:
            proba = model.predict_proba(X)
            if metric == "log_loss":
                return float(skm.log_loss(y, proba, labels=list(model.classes_)))
            if proba.shape[1] == 2:
                return float(skm.roc_auc_score(y, proba[:, 1]))
            return float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=list(model.classes_)))
        predicted = model.predict(X)
    except Exception as err:
        raise EvaluationError(f"{label} could not score the holdout: {type(err).__name__}: {err}") from err
    if metric == "accuracy":
        return float(skm.accuracy_score(y, predicted))
    average = "binary" if y.nunique() == 2 else "macro"
    if metric == "f1":
        return float(skm.f1_score(y, predicted, average=average))
    if metric == "precision":
        return float(skm.precision_score(y, predicted, average=average, zero_division=0))
    if metric == "recall":
        return float(skm.recall_score(y, predicted, average=average, zero_division=0))
    if metric == "mae":
        return float(skm.mean_absolute_error(y, predicted))
    if metric == "rmse":
        return float(skm.root_mean_squared_error(y, predicted))
    if metric == "r2":
        return float(skm.r2_score(y, predicted))
    raise EvaluationError(f"unknown metric '{metric}'")
