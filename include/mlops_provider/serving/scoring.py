"""MLflow's scoring format: request payloads to a feature frame, predictions to a JSON-able answer.

A payload is checked before the model sees it, and every refusal names the column, row or field: numeric features
become float64 (numbers, numeric strings, booleans as 0/1, null/NaN for a missing value; infinity, lists and
objects are refused), categorical features become strings (a number is taken as its text, null stays missing; lists,
objects and booleans are refused). So every window of the inference log has one type per column, whatever the
clients send.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig

FORMATS = ("dataframe_split", "dataframe_records")
OPTIONAL_KEYS = ("params",)  # MLflow's scoring format allows inference params beside the data


class PayloadError(ValueError):
    """The request body is not a scoring payload this model can take (answered with 400)."""


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads` keeps the last of two equal keys silently; a payload naming a column twice is refused."""
    found = dict(pairs)
    if len(found) != len(pairs):
        keys = [key for key, _ in pairs]
        raise PayloadError(f"duplicate key(s) {sorted({k for k in keys if keys.count(k) > 1})} in one JSON object")
    return found


def load_json(body: bytes) -> Any:
    """The body as JSON; a PayloadError when it is not JSON or repeats a key in one object."""
    try:
        return json.loads(body, object_pairs_hook=no_duplicate_keys)
    except PayloadError:
        raise
    except ValueError as err:
        raise PayloadError(f"body is not JSON: {err}") from None


def parse_payload(body: bytes, config: ModelConfig) -> pd.DataFrame:
    """`{"dataframe_split": {"columns": [...], "data": [[...]]}}` or `{"dataframe_records": [{...}]}` as the
    model's feature frame (columns in order, dtypes as in training); extra columns are ignored."""
    payload = load_json(body)
    if not isinstance(payload, dict):
        raise PayloadError(f"expected a JSON object with one of {FORMATS}")
    given = [key for key in FORMATS if key in payload]
    if len(given) != 1:
        other = sorted(set(payload) & {"instances", "inputs"})
        hint = f" ({other[0]} is for tensor models)" if other else ""
        raise PayloadError(f"expected exactly one of {FORMATS}, got keys {sorted(payload)}{hint}")
    unknown = sorted(set(payload) - {given[0], *OPTIONAL_KEYS})
    if unknown:
        raise PayloadError(f"unknown field(s) {unknown} beside {given[0]}")
    frame = _split(payload[given[0]]) if given[0] == "dataframe_split" else _records(payload[given[0]])
    missing = [c for c in config.features.all if c not in frame.columns]
    if missing:
        raise PayloadError(f"model '{config.name}': missing feature column(s) {missing}")
    return _features(config, frame)


def _split(split: Any) -> pd.DataFrame:
    import pandas as pd

    if not isinstance(split, dict) or "columns" not in split or "data" not in split:
        raise PayloadError("dataframe_split needs 'columns' and 'data'")
    columns, data = split["columns"], split["data"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise PayloadError("dataframe_split 'columns' must be a list of column names")
    if len(set(columns)) != len(columns):
        twice = sorted({c for c in columns if columns.count(c) > 1})
        raise PayloadError(f"dataframe_split: duplicate column(s) {twice}")
    if not isinstance(data, list) or not data:
        raise PayloadError("no rows to score (dataframe_split 'data' is empty)")
    width = len(columns)
    for i, values in enumerate(data):
        if type(values) is not list or len(values) != width:
            raise PayloadError(f"dataframe_split 'data' row {i} must be a list of {len(columns)} values "
                               f"(one per column), got {_shape(values)}")
    return pd.DataFrame(data, columns=columns)


def _records(records: Any) -> pd.DataFrame:
    import pandas as pd

    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise PayloadError("dataframe_records must be a list of objects")
    if not records:
        raise PayloadError("no rows to score (dataframe_records is empty)")
    empty = next((i for i, r in enumerate(records) if not r), None)
    if empty is not None:
        raise PayloadError(f"dataframe_records row {empty} is empty")
    return pd.DataFrame.from_records(records)


def _shape(value: Any) -> str:
    return f"{len(value)} value(s)" if isinstance(value, list) else f"a {type(value).__name__}"


def _features(config: ModelConfig, frame: pd.DataFrame) -> pd.DataFrame:
    """The same frame as `data.features_frame` (numeric columns float64, categorical ones text, in that order),
    converted a block at a time: a per-column check runs only to name the column of a block that fails."""
    import numpy as np
    import pandas as pd

    numeric_columns, categorical_columns = list(config.features.numeric), list(config.features.categorical)
    numeric = frame[numeric_columns]
    try:
        numeric = numeric.astype("float64")
    except (ValueError, TypeError):
        _refuse_numeric(config, numeric)
    infinite = np.isinf(numeric.to_numpy())
    if infinite.any():
        row, position = (int(i) for i in np.argwhere(infinite)[0])
        raise PayloadError(f"model '{config.name}': feature '{numeric_columns[position]}' is infinite in row {row}")
    if not categorical_columns:
        return numeric
    text = frame[categorical_columns].astype("object")
    if pd.api.types.infer_dtype(text.to_numpy().ravel(), skipna=True) not in ("string", "empty"):
        for column in categorical_columns:  # only to convert (or name) the column that is not all text
            if pd.api.types.infer_dtype(text[column], skipna=True) not in ("string", "empty"):
                text[column] = _as_text(config, column, text[column])
    return pd.concat([numeric, text], axis=1)


def _refuse_numeric(config: ModelConfig, numeric: pd.DataFrame) -> None:
    """Raise the PayloadError naming the first numeric column and row that is not a number."""
    for column in numeric.columns:
        for i, value in enumerate(numeric[column].tolist()):
            if value is None or isinstance(value, int | float):
                continue
            if isinstance(value, str):
                try:
                    float(value)
                    continue
                except ValueError:
                    pass
            raise PayloadError(f"model '{config.name}': feature '{column}' must be a number, got "
                               f"{type(value).__name__} {json.dumps(value, default=str)[:60]} in row {i}")
    raise PayloadError(f"model '{config.name}': a numeric feature has a value that is not a number")


def _as_text(config: ModelConfig, column: str, values: pd.Series) -> list[Any]:
    """A categorical column as strings (None for a missing value); numbers become their text (5 and 5.0 both
    "5", as a category read from a CSV would be), anything else is refused naming the column and row."""
    converted: list[Any] = []
    for i, value in enumerate(values.tolist()):
        if value is None or isinstance(value, str):
            converted.append(value)
        elif isinstance(value, float) and math.isnan(value):
            converted.append(None)
        elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            converted.append(str(int(value)) if float(value).is_integer() else str(value))
        else:
            raise PayloadError(f"model '{config.name}': categorical feature '{column}' must be text, got "
                               f"{type(value).__name__} {json.dumps(value, default=str)[:60]} in row {i}")
    return converted


def as_json_list(predictions: Any) -> list[Any]:
    """Predictions as plain JSON values (numpy unwrapped, NaN as null)."""
    items = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
    return [None if isinstance(v, float) and v != v else v for v in items]


def predict_scored(model: Any, features: pd.DataFrame) -> tuple[list[Any], list[float] | None]:
    """(predictions, scores) with one pass of the model. A classifier with `predict_proba` is asked only that:
    its prediction is `classes_[argmax]`, which is what scikit-learn's own `predict` returns for our pipelines'
    estimators, and its score is the probability of `classes_[1]` when there are two classes (None for more).
    Anything else (a regressor, a model without probabilities) is asked `predict`, and has no scores."""
    import numpy as np

    classes = getattr(model, "classes_", None)  # a Pipeline raises AttributeError for a regressor
    if classes is not None and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(features))
        classes = np.asarray(classes)
        if proba.ndim == 2 and proba.shape[1] == len(classes) and len(classes) > 0:
            predictions = as_json_list(classes[proba.argmax(axis=1)])
            return predictions, (proba[:, 1].astype("float64").tolist() if len(classes) == 2 else None)
    return as_json_list(model.predict(features)), None


def model_classes(model: Any) -> list[Any] | None:
    """The classes a classifier predicts (JSON values), None for a model without `classes_`."""
    classes = getattr(model, "classes_", None)
    return None if classes is None else as_json_list(classes)
