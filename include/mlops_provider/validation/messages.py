"""Readable phrases for failed expectations, built from a Great Expectations 1.x result (JSON form).

One phrase per problem, e.g. `column 'income' 14.2% null (max 5%)`, so a failure message can be acted
on without opening the full result. Needs the BASIC result format or richer (BOOLEAN_ONLY results only
say which expectations failed, and give phrases without counts or example values).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

EXAMPLES = 3  # example values per phrase
SET_VALUES = 5  # unexpected categories shown

Phrase = tuple[str | None, str, str]  # (column or None, kind, text)


def describe_failures(results: Iterable[dict[str, Any]], frame: pd.DataFrame) -> list[str]:
    """Phrases for the failed expectation results, schema problems first, one per column and problem."""
    phrases: list[Phrase] = []
    for result in results:
        if not result.get("success", False):
            phrases.extend(_describe(result, frame))
    missing = {column for column, kind, _ in phrases if kind == "missing"}
    typed = {column for column, kind, _ in phrases if kind == "type"}
    order = {"columns": 0, "missing": 1, "type": 2, "rows": 3}
    position = {name: i for i, name in enumerate(frame.columns)}
    seen: set[str] = set()
    out: list[tuple[int, int, str]] = []
    for column, kind, text in phrases:
        # a missing or mistyped column makes its other checks error out: say it once, the clear way
        if column in missing and kind != "missing":
            continue
        if column in typed and kind == "error":
            continue
        if text not in seen:
            seen.add(text)
            out.append((order.get(kind, 4), position.get(column, -1), text))
    return [text for _, _, text in sorted(out, key=lambda item: item[:2])]


def _describe(result: dict[str, Any], frame: pd.DataFrame) -> list[Phrase]:
    config = result.get("expectation_config") or {}
    kind = str(config.get("type", "expectation"))
    kwargs = config.get("kwargs") or {}
    column = kwargs.get("column")
    if column is not None and column not in frame.columns:
        return [(column, "missing", f"column '{column}' is missing")]
    error = _exception_message(result.get("exception_info"))
    if error is not None:
        where = f"column '{column}'" if column is not None else "table"
        return [(column, "error", f"{where}: {kind} could not be evaluated: {error}")]
    describe = DESCRIBERS.get(kind, _generic)
    return describe(column, kind, kwargs, result.get("result") or {}, frame)


def _exception_message(info: Any) -> str | None:
    """The first exception GE recorded for this expectation (it keeps one per failed metric)."""
    if not isinstance(info, dict) or not info:
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info.get("raised_exception") else None
    for item in info.values():
        if isinstance(item, dict) and item.get("exception_message"):
            return str(item["exception_message"])
    return None


def _columns_set(column: Any, kind: str, kwargs: dict, result: dict, frame: pd.DataFrame) -> list[Phrase]:
    mismatched = (result.get("details") or {}).get("mismatched") or {}
    phrases: list[Phrase] = []
    # each missing column in the words the column's own expectations use, so the two merge
    phrases.extend((name, "missing", f"column '{name}' is missing") for name in sorted(mismatched.get("missing") or []))
    if mismatched.get("unexpected"):
        phrases.append((None, "columns", f"unexpected column(s) {sorted(mismatched['unexpected'])}"))
    if not phrases:  # exact_match with nothing mismatched cannot fail; keep the generic fallback
        return _generic(column, kind, kwargs, result, frame)
    return phrases


def _column_exists(column: Any, kind: str, kwargs: dict, result: dict, frame: pd.DataFrame) -> list[Phrase]:
    return [(column, "missing", f"column '{column}' is missing")]


def _not_null(column: Any, kind: str, kwargs: dict, result: dict, frame: pd.DataFrame) -> list[Phrase]:
    share = _percent(result)
    limit = f"max {_pct(100 * (1 - kwargs['mostly']))}" if kwargs.get("mostly") else "none allowed"
    if share is not None and share >= 100:
        return [(column, "null", f"column '{column}' is entirely null ({limit})")]
    count = result.get("unexpected_count")
    if share is None and count is None:  # BOOLEAN_ONLY: no counts
        return [(column, "null", f"column '{column}' has too many nulls ({limit})")]
    observed = _pct(share) if share is not None else f"{count} values"
    return [(column, "null", f"column '{column}' {observed} null ({limit})")]


def _between(column: Any, kind: str, kwargs: dict, result: dict, frame: pd.DataFrame) -> list[Phrase]:
    bounds = _bounds(kwargs)
    count = result.get("unexpected_count")
    if count is None:  # BOOLEAN_ONLY: no counts, still say which bounds
        return [(column, "range", f"column '{column}' has values outside {bounds}")]
    how_many = f"{count} value{'s' if count != 1 else ''}"
    if kwargs.get("mostly"):
        how_many += f" ({_pct(_percent(result))}, max {_pct(100 * (1 - kwargs['mostly']))})"
    return [(column, "range", f"column '{column}' {how_many} outside {bounds}{_examples(result)}")]


def _in_set(column: Any, kind: str, kwargs: dict, result: dict, frame: pd.DataFrame) -> list[Phrase]:
    # GE's partial list holds the first 20 unexpected rows; the frame gives every distinct value
    values = frame[column]
    allowed = list(kwargs.get("value_set") or [])
    counts = values[values.notna() & ~values.isin(allowed)].value_counts()
    shown = ", ".join(repr(_plain(v)) for v in counts.index[:SET_VALUES])
    more = f", ... {len(counts) - SET_VALUES} more" if len(counts) > SET_VALUES else ""
    share = _percent(result)
    detail = f" ({int(counts.sum())} rows, {_pct(share)})" if share is not None else f" ({int(counts.sum())} rows)"
    return [(column, "set", f"column '{column}' unexpected values {{{shown}{more}}}{detail}")]


def _type_list(column: Any, kind: str, kwargs: dict, result: dict, frame: pd.DataFrame) -> list[Phrase]:
    expected = "[" + ", ".join(kwargs.get("type_list") or []) + "]"
    dtype = str(frame[column].dtype)
    numeric = any(t.startswith(("int", "float", "uint")) for t in kwargs.get("type_list") or [])
    odd = _non_numeric(frame[column]) if numeric and dtype == "object" else []
    if odd:
        return [(column, "type", f"column '{column}' has non-numeric values (e.g. {', '.join(repr(v) for v in odd)})"
                                 f", expected type in {expected}")]
    observed = result.get("observed_value", dtype)
    if result.get("unexpected_count"):
        return [(column, "type", f"column '{column}' has {result['unexpected_count']} values of a type not in "
                                 f"{expected}{_examples(result)}")]
    return [(column, "type", f"column '{column}' has type {observed}, expected type in {expected}")]


def _row_count(column: Any, kind: str, kwargs: dict, result: dict, frame: pd.DataFrame) -> list[Phrase]:
    return [(None, "rows", f"table has {result.get('observed_value', len(frame))} rows, "
                           f"expected {_bounds(kwargs)}")]


def _generic(column: Any, kind: str, kwargs: dict, result: dict, frame: pd.DataFrame) -> list[Phrase]:
    """Any other expectation: what GE observed, or how many values broke it."""
    where = f"column '{column}'" if column is not None else "table"
    what = kind.removeprefix("expect_")
    if "observed_value" in result:
        limits = f" (expected {_bounds(kwargs)})" if "min_value" in kwargs or "max_value" in kwargs else ""
        return [(column, "other", f"{where}: {what} failed, observed {_value(result['observed_value'])}{limits}")]
    if result.get("unexpected_count") is not None:
        share = _percent(result)
        return [(column, "other", f"{where}: {what} failed for {result['unexpected_count']} values "
                                  f"({_pct(share)}){_examples(result)}")]
    return [(column, "other", f"{where}: {what} failed")]


DESCRIBERS: dict[str, Callable[..., list[Phrase]]] = {
    "expect_table_columns_to_match_set": _columns_set,
    "expect_column_to_exist": _column_exists,
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_be_in_type_list": _type_list,
    "expect_table_row_count_to_be_between": _row_count,
}


def _percent(result: dict) -> float | None:
    value = result.get("unexpected_percent")
    return float(value) if isinstance(value, int | float) else None


def _pct(value: float | None) -> str:
    if value is None:
        return "?%"
    value = round(value, 6)
    if value.is_integer():
        return f"{int(value)}%"
    return f"{value:.1f}%" if value >= 1 else f"{value:.2g}%"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    return repr(value) if isinstance(value, str) else str(value)


def _bounds(kwargs: dict) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        return f"[{_value(low)}, {_value(high)}]"
    if low is not None:
        return f"[{_value(low)}, ...)"
    return f"(..., {_value(high)}]"


def _unexpected_values(result: dict) -> list[Any]:
    """Distinct unexpected values, most frequent first when GE counted them."""
    counts = result.get("partial_unexpected_counts")
    values = [item.get("value") for item in counts] if counts else result.get("partial_unexpected_list") or []
    distinct: list[Any] = []
    for value in values:
        if value not in distinct and not (isinstance(value, float) and math.isnan(value)):
            distinct.append(_plain(value))
    return distinct


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, so they print as `3`, not `np.int64(3)`."""
    return value.item() if hasattr(value, "item") else value


def _examples(result: dict) -> str:
    values = _unexpected_values(result)[:EXAMPLES]
    with contextlib.suppress(TypeError):  # mixed types keep GE's order
        values = sorted(values)
    return f" (e.g. {', '.join(_value(v) for v in values)})" if values else ""


def _non_numeric(series: pd.Series) -> list[Any]:
    import pandas as pd

    values = series.dropna()
    odd = values[pd.to_numeric(values, errors="coerce").isna()]
    return list(dict.fromkeys(odd.head(1000).tolist()))[:EXAMPLES]
