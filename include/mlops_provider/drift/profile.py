"""The reference side of drift detection, fitted once and stored as one `.npz` file (no pickle).

A profile keeps, per column, what the tests need from the reference data:

- numeric dtypes (int, uint, float, bool, pandas nullable numbers), as float64 (integers beyond 2**53 lose
  precision), with the population standard deviation computed the way Evidently computes it (pandas'
  `std(ddof=0)`) for the Wasserstein normalisation, in one of three forms:
  - up to `SUMMARY_MIN_ROWS` (1000) finite values: the values sorted ascending. Evidently runs KS and
    chi-square there, which need every value;
  - more values but at most `summary.EXACT_VALUES_MAX` distinct ones: each distinct value and its count
    (lossless);
  - up to `summary.SUMMARY_MIN_VALUES` (12,000) values: the sorted values, no bigger than a summary;
  - otherwise a fixed-size `summary.NumericSummary` (about 90 kB at any row count), from which Evidently's
    tests above 1000 values (normed Wasserstein, Jensen-Shannon/PSI of Sturges histograms) are computed with a
    proven bound on the distance to the exact score; tests it cannot answer are refused, never approximated
    (see `summary`). `fit(frame, exact=True)` keeps every value instead;
- object, string and category columns: the frequency of each non-missing value (values must be str,
  int, float or bool to be stored).

Column *types* are not decided here: Evidently infers them from the current data (an integer column
with at most ten distinct current values is categorical), so the engine decides at comparison time and
the profile can serve either way (frequencies of a numeric column come from its sorted values).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_provider.drift.stattests import CategoricalSample, NumericSample, Sample
from mlops_provider.drift.summary import EXACT_VALUES_MAX, SUMMARY_MIN_VALUES, NumericSummary, summarize
from mlops_provider.exceptions import DriftError

if TYPE_CHECKING:
    import pandas as pd

FORMAT = "mlops-drift-reference-profile"
VERSION = 2  # 2: numeric value counts and summaries; version 1 files (sorted values and counts) still load
READABLE_VERSIONS = (1, 2)
# Evidently picks distance tests (which a summary can serve) above this many reference values of a column.
SUMMARY_MIN_ROWS = 1000
NUMERIC = "numeric"
CATEGORICAL_VALUES = "categorical"
# Below this many cells the thread pool costs more than it saves.
PARALLEL_MIN_CELLS = 200_000


@dataclass(frozen=True)
class ColumnProfile:
    """What the drift tests need from one reference column."""

    name: str
    dtype: str
    kind: str
    missing: int
    values: np.ndarray | None = field(default=None, repr=False)
    counts: dict[Hashable, int] | None = field(default=None, repr=False)
    std: float | None = None
    repeats: np.ndarray | None = field(default=None, repr=False)  # with `values`: each distinct value's count
    summary: NumericSummary | None = field(default=None, repr=False)

    @property
    def rows(self) -> int:
        """Non-missing values (NaN, None and +-inf are missing, as Evidently drops them)."""
        if self.summary is not None:
            return self.summary.n
        if self.repeats is not None:
            return int(self.repeats.sum())
        if self.values is not None:
            return int(self.values.size)
        return int(sum((self.counts or {}).values()))

    @property
    def form(self) -> str:
        """How the column is kept: `values` (sorted), `repeats` (value counts), `summary` or `counts`."""
        if self.summary is not None:
            return "summary"
        if self.repeats is not None:
            return "repeats"
        return "values" if self.values is not None else "counts"

    @property
    def numeric(self) -> bool:
        return self.kind == NUMERIC

    def sample(self) -> Sample:
        """The column as a test input (value counts expand to the sorted values here, not in the file)."""
        if self.summary is not None:
            return self.summary
        if self.repeats is not None and self.values is not None:
            values = np.repeat(self.values, self.repeats)
            return NumericSample(values, np.dtype(self.dtype), is_sorted=True, std=self.std)
        if self.values is not None:
            return NumericSample(self.values, np.dtype(self.dtype), is_sorted=True, std=self.std)
        return CategoricalSample(self.counts or {})


class ReferenceProfile:
    """The reference data of a drift comparison, reduced to what the tests need; see the module doc."""

    def __init__(self, columns: Mapping[str, ColumnProfile], rows: int) -> None:
        self.columns: dict[str, ColumnProfile] = dict(columns)
        self.rows = rows

    def __repr__(self) -> str:
        return f"ReferenceProfile(rows={self.rows}, columns={list(self.columns)})"

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReferenceProfile):
            return NotImplemented
        return (
            self.rows == other.rows
            and self.columns.keys() == other.columns.keys()
            and all(_same_column(self.columns[name], other.columns[name]) for name in self.columns)
        )

    __hash__ = None  # type: ignore[assignment]

    def column(self, name: str) -> ColumnProfile:
        try:
            return self.columns[name]
        except KeyError:
            raise DriftError(f"column '{name}' is not in the reference profile") from None

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: Sequence[str] | None = None, *, exact: bool = False) -> ReferenceProfile:
        """Profile the reference DataFrame: every column, or the named ones.

        Without `columns`, columns of unsupported dtypes (datetimes, objects that are not plain values)
        are left out; a named column of such a dtype, or a named column that is missing, is an error.
        Numeric columns of more than 1000 values are kept as value counts or a fixed-size summary (see the
        module doc); `exact=True` keeps their sorted values instead (files then grow with the rows).
        """
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise DriftError(f"reference data must be a pandas DataFrame, not {type(frame).__name__}")
        if len(frame) == 0 or frame.shape[1] == 0:
            raise DriftError(f"reference data is empty ({len(frame)} rows, {frame.shape[1]} columns)")
        check_unique_columns(frame, "reference")
        if columns is None:
            names = [name for name in frame.columns if profile_kind(frame[name]) is not None]
        else:
            names = list(columns)
            missing = [name for name in names if name not in frame.columns]
            if missing:
                raise DriftError(f"column(s) missing in reference data: {', '.join(map(str, missing))}")
            unsupported = [f"{name} ({frame[name].dtype})" for name in names if profile_kind(frame[name]) is None]
            if unsupported:
                raise DriftError(
                    "column(s) of the reference data are neither numeric nor plain categorical values: "
                    + ", ".join(unsupported)
                )
        profiles = map_columns(lambda name: fit_column(name, frame[name], exact=exact), names,
                               cells=len(frame) * len(names))
        return cls({profile.name: profile for profile in profiles}, rows=len(frame))

    def save(self, path: Any) -> None:
        """Write the profile to one `.npz` file (a path, or anything with `.open("wb")` like an
        ObjectStoragePath). Numbers are plain arrays (uncompressed, so a summary's file has the same size at
        any row count); everything else is JSON inside the file."""
        arrays: dict[str, np.ndarray] = {}
        columns = []
        for index, profile in enumerate(self.columns.values()):
            if not isinstance(profile.name, str | int):
                raise DriftError(f"column name {profile.name!r} cannot be saved (use str or int names)")
            entry: dict[str, Any] = {
                "name": profile.name,
                "dtype": profile.dtype,
                "kind": profile.kind,
                "missing": profile.missing,
                "std": profile.std,
                "form": profile.form,
            }
            if profile.summary is not None:
                entry["n_unique"] = profile.summary.n_unique
                entry["arrays"] = {}
                for part in SUMMARY_ARRAYS:
                    entry["arrays"][part] = f"{part}_{index}"
                    arrays[f"{part}_{index}"] = _compact(getattr(profile.summary, part))
            elif profile.values is not None:
                entry["array"] = f"values_{index}"
                arrays[entry["array"]] = profile.values
                if profile.repeats is not None:
                    entry["repeats"] = f"repeats_{index}"
                    arrays[entry["repeats"]] = _compact(profile.repeats)
            else:
                counts = profile.counts or {}
                entry["values"] = [_json_value(profile.name, value) for value in counts]
                entry["counts"] = list(counts.values())
            columns.append(entry)
        metadata = {"format": FORMAT, "version": VERSION, "rows": self.rows, "columns": columns}
        text = json.dumps(metadata, allow_nan=False)
        # Padded to a whole kB, so that a file of summaries has one size whatever the digits of its row counts.
        arrays["metadata"] = np.array(text.ljust(-(-len(text) // 1024) * 1024))
        if _is_local(path):
            with Path(path).open("wb") as handle:  # a file object: numpy must not append ".npz"
                np.savez(handle, **arrays)  # type: ignore[arg-type]
            return
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        with path.open("wb") as handle:
            handle.write(buffer.getvalue())

    @classmethod
    def load(cls, path: Any) -> ReferenceProfile:
        """Read a profile written by `save`."""
        try:
            with np.load(_readable(path), allow_pickle=False) as data:
                metadata = json.loads(str(data["metadata"][()]))
                if metadata.get("format") != FORMAT or metadata.get("version") not in READABLE_VERSIONS:
                    raise DriftError(
                        f"{path} is not a drift reference profile of version "
                        f"{' or '.join(map(str, READABLE_VERSIONS))} "
                        f"(format {metadata.get('format')!r}, version {metadata.get('version')!r})"
                    )
                columns = {entry["name"]: _load_column(entry, data) for entry in metadata["columns"]}
        except DriftError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DriftError(f"cannot read drift reference profile {path}: {err}") from err
        return cls(columns, rows=int(metadata["rows"]))


SUMMARY_ARRAYS = ("knots", "knot_counts", "inside_counts", "inside_fractions", "error_ratios", "bin_counts")


def _load_column(entry: dict[str, Any], data: Any) -> ColumnProfile:
    """One column of a version 1 or 2 file (version 1 has no `form`: sorted values or counts)."""
    common = (entry["name"], entry["dtype"], entry["kind"], entry["missing"])
    if entry.get("form") == "summary":
        parts = {part: data[name] for part, name in entry["arrays"].items()}
        for part in ("knot_counts", "inside_counts", "bin_counts"):
            parts[part] = parts[part].astype(np.int64)
        summary = NumericSummary(**parts, dtype=np.dtype(entry["dtype"]), std=float(entry["std"]),
                                 n_unique=int(entry["n_unique"]))
        return ColumnProfile(*common, std=entry["std"], summary=summary)
    if "array" in entry:
        repeats = data[entry["repeats"]].astype(np.int64) if "repeats" in entry else None
        return ColumnProfile(*common, values=data[entry["array"]], std=entry["std"], repeats=repeats)
    counts = dict(zip(entry["values"], entry["counts"], strict=True))
    return ColumnProfile(*common, counts=counts, std=entry["std"])


def _compact(array: np.ndarray) -> np.ndarray:
    """Counts as uint32 when they fit (they do below 4 billion rows), so the file's size does not depend on them."""
    if array.dtype.kind in "iu" and array.dtype.itemsize > 4 and (
            array.size == 0 or (array.min() >= 0 and array.max() < 2**32)):
        return array.astype(np.uint32)
    return array


def check_unique_columns(frame: pd.DataFrame, what: str) -> None:
    if not frame.columns.is_unique:
        duplicated = sorted({str(name) for name in frame.columns[frame.columns.duplicated()]})
        raise DriftError(f"{what} data has duplicated column names: {', '.join(duplicated)}")


def profile_kind(series: pd.Series) -> str | None:
    """How a reference column is stored: sorted numbers, value counts, or not at all (None)."""
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return NUMERIC
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        if dtype == np.dtype(object) and not _plain_values(series):
            return None
        return CATEGORICAL_VALUES
    return None


_PLAIN_INFERRED = {"string", "integer", "floating", "mixed-integer-float", "mixed-integer", "boolean", "empty"}


def _plain_values(series: pd.Series) -> bool:
    """An object column holds only str/int/float/bool (and missing values)?"""
    import pandas as pd

    if pd.api.types.infer_dtype(series, skipna=True) in _PLAIN_INFERRED:
        return True
    kinds = series.dropna().map(type).unique()
    return all(issubclass(kind, str | int | float | bool | np.number | np.bool_) for kind in kinds)


def fit_column(name: str, series: pd.Series, *, exact: bool = False) -> ColumnProfile:
    """Profile one reference column (numeric columns of more than 1000 values compactly unless `exact`)."""
    import pandas as pd

    kind = profile_kind(series)
    if kind == NUMERIC:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = np.isfinite(values)
        kept = int(np.count_nonzero(finite))
        # Evidently divides by `np.std(reference_column)`: pandas' std(ddof=0) in the column's own dtype.
        own_dtype = isinstance(series.dtype, np.dtype)
        original = series.to_numpy()[finite] if own_dtype else values[finite]
        std = float(pd.Series(original).std(ddof=0)) if kept else None
        ordered = values[finite] if kept < values.size else values.copy()
        ordered.sort()
        common = (name, _dtype_name(series), NUMERIC, values.size - kept)
        if exact or kept <= SUMMARY_MIN_ROWS:
            return ColumnProfile(*common, ordered, std=std)
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        if starts.size <= EXACT_VALUES_MAX:
            repeats = np.diff(np.append(starts, ordered.size))
            return ColumnProfile(*common, ordered[starts], std=std, repeats=repeats)
        if kept <= SUMMARY_MIN_VALUES:
            return ColumnProfile(*common, ordered, std=std)
        return ColumnProfile(*common, std=std, summary=summarize(ordered, np.dtype(common[1]), std or 0.0))
    if kind == CATEGORICAL_VALUES:
        counts = frequencies(series)
        return ColumnProfile(
            name, str(series.dtype), CATEGORICAL_VALUES, len(series) - sum(counts.values()), counts=counts
        )
    raise DriftError(f"column '{name}' of dtype {series.dtype} cannot be profiled")


def frequencies(series: pd.Series) -> dict[Hashable, int]:
    """Counts of each value, without missing values and infinities (Evidently drops both)."""
    counts = series.value_counts(dropna=True, sort=False)
    result: dict[Hashable, int] = {}
    for value, count in zip(counts.index.tolist(), counts.tolist(), strict=True):
        if count == 0 or (isinstance(value, float) and math.isinf(value)):
            continue  # unused categories of a category dtype; infinities
        result[value] = result.get(value, 0) + int(count)
    return result


def map_columns(work: Callable[[Any], Any], items: Iterable[Any], *, cells: int) -> list[Any]:
    """`[work(item) for item in items]`, on a thread per core when the data is large (numpy sorts and
    merges release the GIL, so columns run in parallel)."""
    items = list(items)
    workers = min(len(items), _cores())
    if workers <= 1 or cells < PARALLEL_MIN_CELLS:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift") as pool:
        return list(pool.map(work, items))


def _cores() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _dtype_name(series: pd.Series) -> str:
    """The numpy dtype a numeric column behaves as (pandas nullable Int64 -> int64, boolean -> bool)."""
    dtype = series.dtype
    numpy_dtype = getattr(dtype, "numpy_dtype", dtype)
    return str(np.dtype(numpy_dtype))


def _json_value(column: str, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise DriftError(f"column '{column}': value {value!r} of type {type(value).__name__} cannot be saved")


def _same_column(left: ColumnProfile, right: ColumnProfile) -> bool:
    return (
        _same_array(left.values, right.values)
        and _same_array(left.repeats, right.repeats)
        and _same_summary(left.summary, right.summary)
        and left.counts == right.counts
        and (left.name, left.dtype, left.kind, left.missing, left.std)
        == (right.name, right.dtype, right.kind, right.missing, right.std)
    )


def _same_array(left: np.ndarray | None, right: np.ndarray | None) -> bool:
    if left is None or right is None:
        return left is None and right is None
    return bool(np.array_equal(left, right))


def _same_summary(left: NumericSummary | None, right: NumericSummary | None) -> bool:
    if left is None or right is None:
        return left is None and right is None
    return (left.dtype, left.std, left.n_unique) == (right.dtype, right.std, right.n_unique) and all(
        np.array_equal(getattr(left, part), getattr(right, part)) for part in SUMMARY_ARRAYS
    )


def _is_local(path: Any) -> bool:
    return isinstance(path, str | Path) or not hasattr(path, "open")


def _readable(path: Any) -> Any:
    """A local path as it is (numpy reads it lazily), anything else read into memory."""
    if _is_local(path):
        return Path(path)
    with path.open("rb") as handle:
        return io.BytesIO(handle.read())
