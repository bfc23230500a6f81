"""Default trainers: a scikit-learn pipeline (impute, scale, one-hot) in front of a chosen estimator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

CLASSIFIERS = {
    "hist_gradient_boosting": ("sklearn.ensemble", "HistGradientBoostingClassifier"),
    "logistic_regression": ("sklearn.linear_model", "LogisticRegression"),
    "random_forest": ("sklearn.ensemble", "RandomForestClassifier"),
}
REGRESSORS = {
    "hist_gradient_boosting": ("sklearn.ensemble", "HistGradientBoostingRegressor"),
    "ridge": ("sklearn.linear_model", "Ridge"),
    "random_forest": ("sklearn.ensemble", "RandomForestRegressor"),
}


def _preprocessor(numeric: list[str], categorical: list[str]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts = []
    if numeric:
        parts.append(("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric))
    if categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        imputer = SimpleImputer(strategy="constant", fill_value="missing")
        parts.append(("cat", make_pipeline(imputer, encoder), categorical))
    return ColumnTransformer(parts, remainder="drop")


def _estimator(table: dict[str, tuple[str, str]], params: dict[str, Any], seed: int) -> Any:
    import importlib
    import inspect

    options = dict(params)
    kind = options.pop("estimator", "hist_gradient_boosting")
    if kind not in table:
        raise ValueError(f"trainer.params.estimator: unknown estimator '{kind}' (choose from {sorted(table)})")
    module, name = table[kind]
    cls = getattr(importlib.import_module(module), name)
    if "random_state" in inspect.signature(cls).parameters:
        options.setdefault("random_state", seed)
    return cls(**options)


def _fit(table: dict, frame: pd.DataFrame, target: str, numeric: list[str], categorical: list[str],
         params: dict[str, Any], seed: int) -> Pipeline:
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline([("features", _preprocessor(numeric, categorical)),
                         ("model", _estimator(table, params, seed))])
    categorical_frame = frame[numeric + categorical].astype({c: "object" for c in categorical})
    pipeline.fit(categorical_frame, frame[target])
    return pipeline


def train_classifier(frame: pd.DataFrame, *, target: str, numeric: list[str], categorical: list[str],
                     params: dict[str, Any], seed: int) -> Pipeline:
    """Fit the preprocessing + classifier pipeline; `params.estimator` picks the classifier."""
    return _fit(CLASSIFIERS, frame, target, numeric, categorical, params, seed)


def train_regressor(frame: pd.DataFrame, *, target: str, numeric: list[str], categorical: list[str],
                    params: dict[str, Any], seed: int) -> Pipeline:
    """Fit the preprocessing + regressor pipeline; `params.estimator` picks the regressor."""
    return _fit(REGRESSORS, frame, target, numeric, categorical, params, seed)
