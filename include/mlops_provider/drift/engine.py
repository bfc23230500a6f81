"""`detect_drift`: per-column drift tests and the dataset verdict, as Evidently 0.7's DataDriftPreset decides.

What is reproduced from Evidently (`Report([DataDriftPreset()]).run(current, reference)` on plain
DataFrames):

- Column types come from the *current* data, by Evidently's `infer_column_type`: float dtypes are
  numerical; int dtypes are categorical with at most 10 distinct values, else numerical; bool and category
  are categorical; str/object columns are categorical, or text when more than half their values are
  distinct. Other dtypes (uint, pandas nullable Int64/Float64/boolean, datetimes) are not tested.
- Per column, NaN and +-inf are dropped from both sides, then the test is chosen (see
  `stattests.default_test`) unless `method` or `per_column` names one, and scored.
- The dataset drifts when the share of drifted columns is >= `drift_share`.

Deliberate differences: text columns are skipped (Evidently trains a text classifier for them) and listed
in `DriftResult.skipped_columns`; a column with no values left in the current data raises `DriftError`
whatever its dtype (Evidently raises for numerical/categorical columns but silently ignores an all-null
object column, which it cannot type).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_provider.drift.profile import (
    ColumnProfile,
    ReferenceProfile,
    check_unique_columns,
    frequencies,
    map_columns,
)
from mlops_provider.drift.result import ColumnDrift, DriftResult
from mlops_provider.drift.stattests import (
    CATEGORICAL,
    NUMERICAL,
    STATTESTS,
    CategoricalSample,
    NumericSample,
    Sample,
    default_test,
    score_with_error,
)
from mlops_provider.drift.summary import SummaryLimit
from mlops_provider.exceptions import DriftError

if TYPE_CHECKING:
    import pandas as pd

AUTO = "auto"
# A score from a summarised reference is reported only when it is proven this close to the exact score.
SCORE_TOLERANCE = 1e-3
# Evidently's INTEGER_CARDINALITY_LIMIT: an int column with at most this many distinct values is categorical.
INTEGER_CARDINALITY_LIMIT = 10
TEXT = "text"


def detect_drift(
    reference: pd.DataFrame | ReferenceProfile,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    method: str = AUTO,
    threshold: float | None = None,
    drift_share: float = 0.5,
    per_column: Mapping[str, str] | None = None,
    kinds: Mapping[str, str] | None = None,
) -> DriftResult:
    """Compare `current` with `reference` (a DataFrame or a fitted `ReferenceProfile`) column by column.

    `columns` limits the comparison (default: every numerical and categorical column of `current`);
    `method` names one test for all columns and `per_column` one per column (`ks`, `chisquare`, `z`,
    `wasserstein`, `jensenshannon`, `psi`; default `auto`, Evidently's choice); `threshold` replaces every
    test's default threshold (0.05 for p-values, 0.1 for distances). `kinds` declares a column `numerical`
    or `categorical` instead of inferring it from the current data (a declared categorical column whose values
    are mostly new is then tested, not skipped as text). Raises `DriftError` with the column named when a
    column is missing, empty, or of a type the chosen test does not accept.
    """
    per_column = dict(per_column or {})
    _check_options(method, threshold, drift_share, per_column)
    available = _check_frames(reference, current)

    types, skipped = column_types(current, columns, kinds)
    absent = [name for name in types if name not in available]
    if absent:
        raise DriftError(
            f"column(s) missing in reference data: {', '.join(map(str, absent))}"
            + ("" if columns is not None else " (pass columns=[...] to compare fewer columns)")
        )
    unknown = [name for name in per_column if name not in current.columns]
    if unknown:
        raise DriftError(f"per_column names column(s) missing in current data: {', '.join(map(str, unknown))}")
    if not types:
        raise DriftError("no numerical or categorical column to compare" + _skipped_note(skipped))

    if isinstance(reference, ReferenceProfile):
        profile = reference
    else:  # every value: the DataFrame path gives Evidently's scores to 1e-6
        profile = ReferenceProfile.fit(reference, list(types), exact=True)
    jobs = [
        (name, column_type, profile.column(name), current[name], per_column.get(name, method))
        for name, column_type in types.items()
    ]
    results = map_columns(lambda job: compare_column(*job, threshold=threshold), jobs, cells=len(current) * len(jobs))
    drifts = {name: result for (name, *_), result in zip(jobs, results, strict=True)}
    drifted = sum(result.drifted for result in drifts.values())
    share = drifted / len(drifts)
    return DriftResult(
        dataset_drifted=bool(share >= drift_share),
        drift_share=share,
        columns=drifts,
        number_of_columns=len(drifts),
        number_of_drifted_columns=drifted,
        reference_rows=profile.rows,
        current_rows=len(current),
        drift_share_threshold=drift_share,
        skipped_columns=skipped,
    )


def compare_column(
    name: str,
    column_type: str,
    reference: ColumnProfile,
    current: pd.Series,
    method: str,
    *,
    threshold: float | None,
) -> ColumnDrift:
    """Test one column; `method` is a test name or `auto`."""
    if column_type == NUMERICAL and not reference.numeric:
        raise DriftError(
            f"column '{name}' is numerical in the current data but holds {reference.dtype} values in the reference"
        )
    if reference.rows == 0:
        raise DriftError(f"column '{name}' has no values in the reference data (all {reference.missing} missing)")
    current_sample = numeric_sample(current) if column_type == NUMERICAL else CategoricalSample(frequencies(current))
    if current_sample.n == 0:
        raise DriftError(f"column '{name}' has no values in the current data (all {len(current)} missing)")
    reference_sample = reference.sample()
    test_name = default_test(reference_sample, current_sample, column_type) if method == AUTO else method
    test = STATTESTS[test_name]
    # Evidently's own choice may run chisquare or z on a numerical column; a named test must accept the type.
    if method != AUTO and column_type not in test.column_types:
        raise DriftError(
            f"test '{test_name}' does not apply to {column_type} column '{name}' "
            f"(it takes {' and '.join(test.column_types)} columns)"
        )
    try:
        score, error = score_with_error(test_name, reference_sample, current_sample, column_type)
    except SummaryLimit as err:
        raise DriftError(
            f"column '{name}': test '{test_name}' cannot run on this reference profile: {err}; fit the profile "
            "with ReferenceProfile.fit(frame, exact=True) to keep every value"
            + _summary_hint(name, column_type, method)
        ) from err
    actual_threshold = test.default_threshold if threshold is None else float(threshold)
    drifted = test.is_drift(score, actual_threshold)
    if error > SCORE_TOLERANCE or drifted != test.is_drift(score - error, actual_threshold) \
            or drifted != test.is_drift(score + error, actual_threshold):
        raise DriftError(
            f"column '{name}': test '{test_name}' on the reference profile's summary gives {score:.6g}, within "
            f"{error:.2g} of the exact score, which cannot "
            + (f"be reported within {SCORE_TOLERANCE:g}" if error > SCORE_TOLERANCE
               else f"decide the verdict against the threshold {actual_threshold:g}")
            + "; fit the profile with ReferenceProfile.fit(frame, exact=True) to keep every value"
        )
    return ColumnDrift(test_name, score, actual_threshold, drifted, column_type)


def _summary_hint(name: str, column_type: str, method: str) -> str:
    """What else serves a summarised column: a distance test, or typing the column numerical."""
    if column_type == CATEGORICAL:
        return f", or declare the column numerical (kinds={{{name!r}: 'numerical'}})"
    return "" if method == AUTO else ", or choose wasserstein, jensenshannon or psi for it"


def numeric_sample(series: pd.Series) -> Sample:
    """The finite values of a numeric column as float64, in their order (the tests need no sorting)."""
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
    dtype = getattr(series.dtype, "numpy_dtype", series.dtype)
    return NumericSample(values, np.dtype(dtype))


def infer_column_type(series: pd.Series) -> str | None:
    """Evidently 0.7's `infer_column_type` for a column of the current data: numerical, categorical,
    text, or None for the types DataDriftPreset does not test (datetime, list, unknown)."""
    name = series.dtype.name
    if name.startswith("float"):
        return NUMERICAL
    if name.startswith("int"):
        return CATEGORICAL if series.nunique() <= INTEGER_CARDINALITY_LIMIT else NUMERICAL
    if name in ("string", "str"):
        return TEXT if series.nunique() > series.count() * 0.5 else CATEGORICAL
    if name == "object":
        present = series.dropna()
        if present.count() == 0:
            return None
        if isinstance(present.iloc[0], str) and isinstance(present.iloc[-1], str):
            return TEXT if series.nunique() > series.count() * 0.5 else CATEGORICAL
        return None
    if name in ("bool", "category"):
        return CATEGORICAL
    return None


def column_types(current: pd.DataFrame, columns: Sequence[str] | None,
                 kinds: Mapping[str, str] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """The columns to test with their types (declared in `kinds`, else inferred), and those left out with why."""
    kinds = dict(kinds or {})
    wrong = {name: kind for name, kind in kinds.items() if kind not in (NUMERICAL, CATEGORICAL)}
    if wrong:
        raise DriftError(f"declared kinds must be '{NUMERICAL}' or '{CATEGORICAL}', got {wrong}")
    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        missing = [name for name in columns if name not in current.columns]
        if missing:
            raise DriftError(f"column(s) missing in current data: {', '.join(map(str, missing))}")
        duplicated = sorted({str(name) for name in columns if list(columns).count(name) > 1})
        if duplicated:
            raise DriftError(f"column(s) listed more than once: {', '.join(duplicated)}")
    names = list(current.columns) if columns is None else list(columns)
    types: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name in names:
        series = current[name]
        column_type = kinds.get(name) or infer_column_type(series)
        if name in kinds and series.count() == 0:
            raise DriftError(f"column '{name}' has no values in the current data (all {len(series)} missing)")
        if column_type == NUMERICAL and name in kinds and not _numeric_dtype(series):
            raise DriftError(f"column '{name}' is declared numerical but holds {series.dtype} values in the "
                             "current data")
        if column_type == TEXT:
            skipped[name] = (
                f"text: {series.nunique()} distinct of {series.count()} values in the current data, so Evidently "
                "would run its text-content drift test, which this engine does not implement"
            )
        elif column_type is None:
            if series.notna().any() or not (series.dtype == object or series.dtype.name == "string"):
                reason = f"dtype {series.dtype} is neither numerical nor categorical for Evidently"
                if columns is not None:
                    raise DriftError(f"column '{name}': {reason}; cast it (e.g. to float or category) to test it")
                skipped[name] = reason
            else:
                raise DriftError(f"column '{name}' has no values in the current data (all {len(series)} missing)")
        else:
            types[name] = column_type
    return types, skipped


def _numeric_dtype(series: pd.Series) -> bool:
    return series.dtype.kind in "biuf"


def _check_frames(reference: Any, current: Any) -> Any:
    """Both sides are usable; returns the reference's column names."""
    import pandas as pd

    if not isinstance(current, pd.DataFrame):
        raise DriftError(f"current data must be a pandas DataFrame, not {type(current).__name__}")
    if len(current) == 0 or current.shape[1] == 0:
        raise DriftError(f"current data is empty ({len(current)} rows, {current.shape[1]} columns)")
    check_unique_columns(current, "current")
    if isinstance(reference, ReferenceProfile):
        return reference.columns
    if not isinstance(reference, pd.DataFrame):
        raise DriftError(f"reference must be a pandas DataFrame or a ReferenceProfile, not {type(reference).__name__}")
    if len(reference) == 0 or reference.shape[1] == 0:
        raise DriftError(f"reference data is empty ({len(reference)} rows, {reference.shape[1]} columns)")
    return reference.columns


def _check_options(method: str, threshold: float | None, drift_share: float, per_column: Mapping[str, str]) -> None:
    choices = ", ".join([AUTO, *STATTESTS])
    for column, name in [(None, method), *per_column.items()]:
        if name != AUTO and name not in STATTESTS:
            where = "" if column is None else f" for column '{column}'"
            raise DriftError(f"unknown drift method {name!r}{where}; choose one of {choices}")
    if threshold is not None and not (isinstance(threshold, int | float) and np.isfinite(threshold) and threshold >= 0):
        raise DriftError(f"threshold must be a finite number >= 0, not {threshold!r}")
    if not (isinstance(drift_share, int | float) and 0 <= drift_share <= 1):
        raise DriftError(f"drift_share must be between 0 and 1, not {drift_share!r}")


def _skipped_note(skipped: Mapping[str, str]) -> str:
    if not skipped:
        return ""
    return " (not tested: " + "; ".join(f"{name}: {reason}" for name, reason in skipped.items()) + ")"
