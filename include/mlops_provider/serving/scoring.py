"""MLflow's scoring format: request payloads to a feature frame, predictions to a JSON-able answer."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig

FORMATS = ("dataframe_split", "dataframe_records")


class PayloadError(ValueError):
    """The request body is not a scoring payload this model can take (answered with 400)."""


def parse_payload(body: bytes, config: ModelConfig) -> pd.DataFrame:
    """`{"dataframe_split": {"columns": [...], "data": [[...]]}}` or `{"dataframe_records": [{...}]}` as the
    model's feature frame (columns in order, dtypes as in training); extra columns are ignored."""
    import pandas as pd

    try:
        payload = json.loads(body)
    except ValueError as err:
        raise PayloadError(f"body is not JSON: {err}") from None
    if not isinstance(payload, dict):
        raise PayloadError(f"expected a JSON object with one of {FORMATS}")
    given = [key for key in FORMATS if key in payload]
    if len(given) != 1:
        other = sorted(set(payload) & {"instances", "inputs"})
        hint = f" ({other[0]} is for tensor models)" if other else ""
        raise PayloadError(f"expected exactly one of {FORMATS}, got keys {sorted(payload)}{hint}")
    try:
        if given[0] == "dataframe_split":
            split = payload["dataframe_split"]
            if not isinstance(split, dict) or "columns" not in split or "data" not in split:
                raise PayloadError("dataframe_split needs 'columns' and 'data'")
            frame = pd.DataFrame(split["data"], columns=split["columns"])
        else:
            records = payload["dataframe_records"]
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise PayloadError("dataframe_records must be a list of objects")
            frame = pd.DataFrame.from_records(records)
    except PayloadError:
        raise
    except (ValueError, TypeError) as err:
        raise PayloadError(f"{given[0]} does not make a table: {err}") from None
    if frame.empty:
        raise PayloadError("no rows to score")
    missing = [c for c in config.features.all if c not in frame.columns]
    if missing:
        raise PayloadError(f"model '{config.name}': missing feature column(s) {missing}")
    try:
        return _features(config, frame)
    except (ValueError, TypeError) as err:
        raise PayloadError(f"model '{config.name}': a feature has a value of the wrong type: {err}") from None


def _features(config: ModelConfig, frame: pd.DataFrame) -> pd.DataFrame:
    """The same frame as `data.features_frame` (numeric columns float64, categorical ones object, in
    that order), converted a block at a time: a per-column `astype` was most of a small request's CPU."""
    import pandas as pd

    numeric = frame[list(config.features.numeric)].astype("float64")
    if not config.features.categorical:
        return numeric
    return pd.concat([numeric, frame[list(config.features.categorical)].astype("object")], axis=1)


def as_json_list(predictions: Any) -> list[Any]:
    """Predictions as plain JSON values (numpy unwrapped, NaN as null)."""
    items = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
    return [None if isinstance(v, float) and v != v else v for v in items]
