"""A starting expectation suite profiled from a known-good batch (`mlops validate --init`), to be reviewed.

The rules aim at data errors, not drift (the drift monitor watches distributions):

- schema: exactly the observed columns; each column's type family (numeric, string, boolean);
- nulls: a column never null may be up to 1% null; a column with share p may be up to 2p + 5%;
  the target may never be null;
- numeric ranges: the observed [min, max] widened by the observed span on each side, and never below
  zero for a column that had no negative value;
- categories: the observed set for categorical features, a classification target, booleans and text
  columns with few distinct values;
- rows: from half to ten times the observed count.

Every expectation carries what was observed in its `meta`, so a reviewer sees why a bound is where it is.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import ModelConfig

NUMERIC_TYPES = ["int32", "int64", "float32", "float64"]
STRING_TYPES = ["str"]
BOOL_TYPES = ["bool"]
MAX_CATEGORIES = 50  # a text column with more distinct values is an identifier or free text: no set


def profile_suite(frame: pd.DataFrame, config: ModelConfig, *, source: str = "") -> dict[str, Any]:
    """The suite JSON (GE 1.x format) for `frame`, the training batch of `config`'s model."""
    from mlops_provider.validation.suite import build_suite

    rows = len(frame)
    expectations: list[dict[str, Any]] = [
        _expectation("expect_table_columns_to_match_set",
                     {"column_set": [str(c) for c in frame.columns], "exact_match": True}),
        _expectation("expect_table_row_count_to_be_between",
                     {"min_value": max(1, math.ceil(rows / 2)), "max_value": rows * 10}, rows=rows),
    ]
    categorical = set(config.features.categorical)
    if config.task == "classification":
        categorical.add(config.target)
    for column in frame.columns:
        expectations.extend(_column_expectations(frame[column], str(column), categorical=str(column) in categorical,
                                                 is_target=column == config.target))
    suite = {
        "name": config.name,
        "expectations": expectations,
        "meta": {"generated_by": "mlops validate --init", "source": source, "rows": rows},
        "notes": "Profiled from one batch: review the bounds before relying on them.",
    }
    build_suite(suite, source=f"profiled suite of model '{config.name}'")  # what we write must load
    return suite


def _column_expectations(series: pd.Series, column: str, *, categorical: bool, is_target: bool) -> list[dict]:
    import pandas as pd

    out: list[dict[str, Any]] = []
    kind = _family(series)
    if kind is not None:
        types = {"numeric": NUMERIC_TYPES, "string": STRING_TYPES, "bool": BOOL_TYPES}[kind]
        out.append(_expectation("expect_column_values_to_be_in_type_list",
                                {"column": column, "type_list": types}, dtype=str(series.dtype)))
    null_share = float(series.isna().mean())
    if is_target:
        out.append(_expectation("expect_column_values_to_not_be_null", {"column": column},
                                null_share=round(null_share, 4)))
    else:
        allowed = 2 * null_share + 0.05 if null_share > 0 else 0.01
        if allowed < 1:
            out.append(_expectation("expect_column_values_to_not_be_null",
                                    {"column": column, "mostly": round(1 - allowed, 4)},
                                    null_share=round(null_share, 4)))
    values = series.dropna()
    if values.empty:
        return out
    few = values.nunique() <= MAX_CATEGORIES
    if kind == "bool" or (few and (categorical or kind == "string")):
        distinct = sorted({_plain(v) for v in values.unique()}, key=str)
        out.append(_expectation("expect_column_values_to_be_in_set", {"column": column, "value_set": distinct},
                                distinct=len(distinct)))
    elif kind == "numeric" and pd.api.types.is_numeric_dtype(series):
        low, high = float(values.min()), float(values.max())
        out.append(_expectation("expect_column_values_to_be_between",
                                {"column": column, **_widened(low, high, integer=_is_integer(values))},
                                observed_min=_plain(values.min()), observed_max=_plain(values.max())))
    return out


def _family(series: pd.Series) -> str | None:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    values = series.dropna()
    textual = pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)
    if textual and len(values) and all(isinstance(v, str) for v in values.head(1000)):
        return "string"
    return None  # dates, mixed objects: no type check rather than a wrong one


def _widened(low: float, high: float, *, integer: bool) -> dict[str, float | int]:
    span = high - low or abs(high) or 1.0
    lower, upper = low - span, high + span
    if low >= 0:
        lower = max(0.0, lower)
    step = 10 ** math.floor(math.log10(span)) / 10 if span > 0 else 1.0
    lower, upper = math.floor(lower / step) * step, math.ceil(upper / step) * step
    if integer or step >= 1:
        return {"min_value": int(math.floor(lower)), "max_value": int(math.ceil(upper))}
    digits = max(0, -math.floor(math.log10(step)))
    return {"min_value": round(lower, digits), "max_value": round(upper, digits)}


def _is_integer(values: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_integer_dtype(values) or (values % 1 == 0).all())


def _expectation(kind: str, kwargs: dict[str, Any], **observed: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": kind, "kwargs": kwargs}
    if observed:
        entry["meta"] = {"observed": observed}
    return entry


def _plain(value: Any) -> Any:
    """numpy scalars as JSON-able Python values."""
    return value.item() if hasattr(value, "item") else value
