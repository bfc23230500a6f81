"""Windows of predictions: every row gets the number of its (window, served version) group, computed for all
rows at once so the metrics can be reduced per group with `np.bincount` instead of a loop over windows.

A window is a pandas offset on the timestamp ("1h": groups start at multiples of 1h since the epoch, like
`Series.dt.floor`), an int (that many rows per window, in timestamp order, counted per version so every group but
the last of a version holds exactly that many predictions), or None (one window per version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from mlops_provider.performance.kernels import sort_within_groups
from mlops_provider.performance.metrics import PerformanceError, require_columns

Window: TypeAlias = "str | int | pd.Timedelta | None"


@dataclass(frozen=True)
class Groups:
    """`codes[i]` is row i's group, 0..count-1, ordered by window start then version. `start` and `end` are the
    offset window's bounds (end excluded), else the first and last timestamp in the group (None without one)."""

    codes: np.ndarray
    start: list[pd.Timestamp | None]
    end: list[pd.Timestamp | None]
    version: list[Any]
    n_rows: np.ndarray

    @property
    def count(self) -> int:
        return len(self.version)


def _timestamps(frame: pd.DataFrame, timestamp: str, frame_name: str) -> pd.DatetimeIndex:
    try:
        stamps = pd.DatetimeIndex(pd.to_datetime(frame[timestamp]))
    except (TypeError, ValueError) as err:
        raise PerformanceError(f"{frame_name} column {timestamp!r} is not a timestamp: {err}") from err
    if stamps.hasnans:
        raise PerformanceError(f"{frame_name} column {timestamp!r} has {int(stamps.isna().sum())} missing timestamps")
    return stamps.as_unit("ns")


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (version "3" or 3, not np.str_ or np.int64)."""
    return value.item() if isinstance(value, np.generic) else value


def _dense(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, present keys in order): a bincount when the keys are dense, a sort when they are not."""
    if not len(key):
        return key.astype(np.int64), key
    low = int(key.min())
    shifted = key - low
    span = int(shifted.max()) + 1
    if span > 2 * len(key) + 1024:
        present, codes = np.unique(key, return_inverse=True)
        return codes.astype(np.int64), present
    used = np.bincount(shifted, minlength=span) > 0
    lookup = np.cumsum(used) - 1
    return lookup[shifted].astype(np.int64), np.flatnonzero(used) + low


def assign_groups(frame: pd.DataFrame, window: Window, *, timestamp: str, version: str | None,
                  frame_name: str) -> Groups:
    """Group every row of `frame` by window and by `version` (when that column is present)."""
    rows = len(frame)
    served = frame[version].to_numpy() if version is not None and version in frame.columns else None
    if served is not None and len(served) and not pd.isna(served[0]) and (served == served[0]).all():
        version_codes, version_values = np.zeros(rows, dtype=np.int64), [_plain(served[0])]  # the usual case
    elif served is not None:
        version_codes, versions = pd.factorize(served, sort=True, use_na_sentinel=False)
        version_codes = version_codes.astype(np.int64)
        version_values = [None if pd.isna(v) else _plain(v) for v in versions]
    else:
        version_codes, version_values = np.zeros(rows, dtype=np.int64), [None]
    n_versions = max(len(version_values), 1)

    has_time = timestamp in frame.columns
    stamps = _timestamps(frame, timestamp, frame_name) if has_time else None
    nanos: np.ndarray | None = stamps.asi8 if stamps is not None else None
    offset: int | None = None

    if window is None:
        window_key = np.zeros(rows, dtype=np.int64)
    elif isinstance(window, int | np.integer) and not isinstance(window, bool):
        if window < 1:
            raise PerformanceError(f"window must be a positive number of rows, got {window}")
        # timestamp order within each version; frame order when there is no timestamp
        # logs are written in time order, so the sort by time is usually skipped
        if nanos is None or bool(np.all(nanos[1:] >= nanos[:-1])):
            order = np.argsort(version_codes, kind="stable")
        else:
            order = sort_within_groups(version_codes, nanos, n_versions, stable=True)
        sorted_versions = version_codes[order]
        first = np.searchsorted(sorted_versions, np.arange(n_versions))
        position = np.empty(rows, dtype=np.int64)
        position[order] = np.arange(rows) - first[sorted_versions]
        window_key = position // int(window)
    else:
        if nanos is None:
            require_columns(frame, [timestamp], frame_name)
            raise AssertionError("unreachable")
        try:
            offset = pd.Timedelta(window).value
        except (TypeError, ValueError) as err:
            raise PerformanceError(f"window {window!r} is neither a row count nor a fixed pandas offset "
                                   f"such as '1h' or '15min': {err}") from err
        if offset <= 0:
            raise PerformanceError(f"window {window!r} must be longer than zero")
        window_key = nanos // offset  # floor division: epoch-aligned like Series.dt.floor

    codes, present = _dense(window_key * n_versions + version_codes)
    count = len(present)
    n_rows = np.bincount(codes, minlength=count)
    group_versions = [version_values[int(key % n_versions)] for key in present]
    if nanos is None:
        return Groups(codes, [None] * count, [None] * count, group_versions, n_rows)

    tz = stamps.tz if stamps is not None else None
    if offset is not None:
        starts = (present // n_versions) * offset
        ends = starts + offset
    else:
        starts = np.full(count, np.iinfo(np.int64).max)
        ends = np.full(count, np.iinfo(np.int64).min)
        np.minimum.at(starts, codes, nanos)
        np.maximum.at(ends, codes, nanos)
        # row windows of different versions interleave in time: number the groups by start, then version
        group_versions_codes = present % n_versions
        order = np.lexsort((group_versions_codes, starts))
        if (order != np.arange(count)).any():
            renumber = np.empty(count, dtype=np.int64)
            renumber[order] = np.arange(count)
            codes, starts, ends, n_rows = renumber[codes], starts[order], ends[order], n_rows[order]
            group_versions = [group_versions[k] for k in order]

    def stamp(value: int) -> pd.Timestamp:
        return pd.Timestamp(int(value), tz="UTC").tz_convert(tz) if tz is not None else pd.Timestamp(int(value))

    return Groups(codes, [stamp(s) for s in starts], [stamp(e) for e in ends], group_versions, n_rows)
