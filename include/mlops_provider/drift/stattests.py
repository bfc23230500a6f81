"""The two-sample drift tests with Evidently 0.7's numbers, on arrays and value counts instead of Series.

Each test reproduces the matching `evidently.legacy.calculations.stattests` function (which DataDriftPreset
runs) operation for operation where it matters for the result: the same scipy distribution functions for
p-values, the same float expressions for statistics, the same histogram edges. The speed comes from `ecdf`
(KS statistic and Wasserstein distance without sorting the current sample), from sorted reference arrays
(histograms are `searchsorted` calls) and from value counts instead of per-row Python calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy import special, stats

from mlops_provider.drift import ecdf, summary
from mlops_provider.drift.summary import NumericSummary, SummaryLimit

NUMERICAL = "numerical"
CATEGORICAL = "categorical"

# scipy.stats.ks_2samp(method="auto") computes the exact p-value up to this sample size.
KS_EXACT_MAX_N = 10000
WASSERSTEIN_STD_FLOOR = summary.WASSERSTEIN_STD_FLOOR
# Evidently bins a numerical column into a histogram for jensenshannon/psi only above this many distinct
# reference values; below it compares value frequencies like a categorical column.
HISTOGRAM_MIN_UNIQUE = 20

Counts = Mapping[Hashable, int]


@dataclass(frozen=True)
class StatTest:
    """A drift test: its Evidently name, what the score is, and when the score means drift."""

    name: str
    display_name: str
    kind: Literal["p_value", "distance"]
    default_threshold: float
    column_types: tuple[str, ...]
    drift_at_threshold: bool = False

    def is_drift(self, score: float, threshold: float) -> bool:
        """Evidently's rule: a distance drifts at or above the threshold; a p-value drifts below it."""
        if self.kind == "distance":
            return bool(score >= threshold)
        return bool(score <= threshold) if self.drift_at_threshold else bool(score < threshold)

    def describe(self, score: float, threshold: float) -> str:
        """`wasserstein 0.31 >= 0.1` or `ks p=0.0012 <= 0.05`, with the comparison that decided."""
        drifted = self.is_drift(score, threshold)
        if self.kind == "distance":
            return f"{self.name} {score:.3g} {'>=' if drifted else '<'} {threshold:g}"
        below = "<=" if self.drift_at_threshold else "<"
        above = ">" if self.drift_at_threshold else ">="
        return f"{self.name} p={score:.3g} {below if drifted else above} {threshold:g}"


# Evidently's registry, with its rules: ks drifts at p <= threshold, chisquare and z at p < threshold.
STATTESTS: dict[str, StatTest] = {
    test.name: test
    for test in (
        StatTest("ks", "K-S p_value", "p_value", 0.05, (NUMERICAL,), drift_at_threshold=True),
        StatTest("chisquare", "chi-square p_value", "p_value", 0.05, (CATEGORICAL,)),
        StatTest("z", "Z-test p_value", "p_value", 0.05, (CATEGORICAL,)),
        StatTest("wasserstein", "Wasserstein distance (normed)", "distance", 0.1, (NUMERICAL,)),
        StatTest("jensenshannon", "Jensen-Shannon distance", "distance", 0.1, (CATEGORICAL, NUMERICAL)),
        StatTest("psi", "PSI", "distance", 0.1, (CATEGORICAL, NUMERICAL)),
    )
}


@dataclass(frozen=True)
class NumericSample:
    """One side of a numerical comparison: its finite values as float64 (sorted or not) and its dtype.

    `std` is the population standard deviation Evidently divides the Wasserstein distance by (computed
    by pandas in the column's own dtype); a profile stores it for reference columns.
    """

    values: np.ndarray
    dtype: np.dtype
    is_sorted: bool = False
    std: float | None = None

    @property
    def n(self) -> int:
        return int(self.values.size)

    @cached_property
    def sorted(self) -> np.ndarray:
        return self.values if self.is_sorted else np.sort(self.values)

    @cached_property
    def n_unique(self) -> int:
        return count_unique_sorted(self.sorted)

    def unique_up_to(self, limit: int) -> np.ndarray | None:
        """The distinct values if there are at most `limit` of them; cheap when there are many."""
        if self.is_sorted:
            return self.values[_run_starts(self.values)] if self.n_unique <= limit else None
        if np.unique(self.values[: 64 * limit]).size > limit:
            return None
        distinct = np.unique(self.values)
        return distinct if distinct.size <= limit else None


@dataclass(frozen=True)
class CategoricalSample:
    """One side of a categorical comparison: how often each non-missing value occurs."""

    counts: Counts

    @property
    def n(self) -> int:
        return int(sum(self.counts.values()))

    @property
    def n_unique(self) -> int:
        return len(self.counts)


Sample = NumericSample | CategoricalSample | NumericSummary


class KsResult(NamedTuple):
    statistic: float
    pvalue: float


def count_unique_sorted(values: np.ndarray) -> int:
    """Distinct values of a sorted array (0.0 and -0.0 count once, as in pandas)."""
    if values.size == 0:
        return 0
    return int(np.count_nonzero(values[1:] != values[:-1])) + 1


def counts_of(sample: Sample) -> Counts:
    """Value frequencies of either kind of sample; a sorted array gives them in one pass."""
    if isinstance(sample, CategoricalSample):
        return sample.counts
    if isinstance(sample, NumericSummary):
        raise _no_frequencies(sample)
    values = sample.sorted
    starts = _run_starts(values)
    sizes = np.diff(np.append(starts, values.size))
    return dict(zip(values[starts].tolist(), sizes.tolist(), strict=True))


def _no_frequencies(reference: NumericSummary) -> SummaryLimit:
    return SummaryLimit(
        f"the reference profile keeps a fixed-size summary of its {reference.n:,} values ({reference.n_unique:,} "
        "distinct), not the frequency of each value, which a test of value frequencies needs"
    )


def _run_starts(values: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts in a sorted array."""
    if values.size == 0:
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))


def union_keys(reference: Counts, current: Counts) -> list[Hashable]:
    """The values seen on either side, in a deterministic order (reference first)."""
    keys = dict.fromkeys(reference)
    keys.update(dict.fromkeys(current))
    return list(keys)


def n_values_together(reference: Sample, current: Sample) -> int:
    """`pd.concat([reference, current]).nunique()`, which Evidently's default test choice compares with 2
    and 5: exact up to 5, some number above 5 otherwise."""
    if isinstance(reference, NumericSummary):
        return 6  # a summary has more than EXACT_VALUES_MAX distinct values
    if isinstance(reference, NumericSample) and isinstance(current, NumericSample):
        few_reference = reference.unique_up_to(5)
        few_current = None if few_reference is None else current.unique_up_to(5)
        if few_reference is None or few_current is None:
            return 6
        return int(np.union1d(few_reference, few_current).size)
    return len(union_keys(counts_of(reference), counts_of(current)))


# --- Kolmogorov-Smirnov ------------------------------------------------------------------------------

try:  # the exact small-sample distribution ks_2samp uses; private, so fall back to ks_2samp itself
    from scipy.stats._stats_py import _attempt_exact_2kssamp
except ImportError:  # pragma: no cover - depends on the scipy release
    _attempt_exact_2kssamp = None


def ks_pvalue(statistic: float, n1: int, n2: int) -> KsResult:
    """What `scipy.stats.ks_2samp` (two-sided, method="auto") reports for a statistic: the exact
    distribution up to 10000 values per sample (which rounds the statistic to its lattice), else
    Smirnov's asymptotic `kstwo.sf(d, round(n1 * n2 / (n1 + n2)))`."""
    d = statistic
    if max(n1, n2) <= KS_EXACT_MAX_N and _attempt_exact_2kssamp is not None:
        success, d, prob = _attempt_exact_2kssamp(n1, n2, math.gcd(n1, n2), d, "two-sided")
        if success:
            return KsResult(float(d), float(np.clip(prob, 0, 1)))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    prob = stats.kstwo.sf(d, np.round(en))
    return KsResult(float(d), float(np.clip(prob, 0, 1)))


def ks_2samp_samples(reference: NumericSample, current: NumericSample) -> KsResult:
    """`scipy.stats.ks_2samp(reference, current)`: the same statistic and p-value."""
    n1, n2 = reference.n, current.n
    if min(n1, n2) == 0:
        raise ValueError("the KS test needs two non-empty samples")
    if max(n1, n2) <= KS_EXACT_MAX_N and _attempt_exact_2kssamp is None:  # pragma: no cover
        result = stats.ks_2samp(reference.values, current.values)
        return KsResult(float(result.statistic), float(result.pvalue))
    statistic = ecdf.ks_statistic(
        reference.values, current.values, a_sorted=reference.is_sorted, b_sorted=current.is_sorted
    )
    return ks_pvalue(statistic, n1, n2)


def ks_2samp(a: Any, b: Any) -> KsResult:
    """`scipy.stats.ks_2samp(a, b)` (two-sided, method="auto") for finite samples: the same statistic and
    p-value, without sorting either sample in full (see `ecdf`)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError("ks_2samp takes two 1-D samples")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("ks_2samp takes finite samples; drop NaN and infinities first")
    return ks_2samp_samples(NumericSample(a, a.dtype), NumericSample(b, b.dtype))


# --- the tests, as Evidently runs them --------------------------------------------------------------


def ks(reference: NumericSample, current: NumericSample) -> float:
    """Evidently `ks`: the p-value of `ks_2samp`."""
    if isinstance(reference, NumericSummary):
        raise SummaryLimit(
            f"the KS test needs every reference value, but the reference profile keeps a fixed-size summary of "
            f"its {reference.n:,} values"
        )
    return ks_2samp_samples(reference, current).pvalue


def wasserstein(reference: NumericSample, current: NumericSample) -> float:
    """Evidently `wasserstein`: scipy's distance over the reference's population std (floored at 0.001)."""
    return wasserstein_with_error(reference, current)[0]


def wasserstein_with_error(reference: NumericSample | NumericSummary, current: NumericSample) -> tuple[float, float]:
    """Evidently `wasserstein` and how far from it the score can be (0 unless the reference is a summary)."""
    if isinstance(reference, NumericSummary):
        distance, error = summary.wasserstein_distance(reference, current.values)
        norm = max(reference.std, WASSERSTEIN_STD_FLOOR)
        return distance / norm, error / norm
    std = reference.std if reference.std is not None else float(np.std(reference.values))
    distance = ecdf.wasserstein_distance(
        reference.values, current.values, a_sorted=reference.is_sorted, b_sorted=current.is_sorted
    )
    return distance / max(std, WASSERSTEIN_STD_FLOOR), 0.0


def chisquare(reference: Sample, current: Sample) -> float:
    """Evidently `chisquare`: Pearson's test of current counts against reference frequencies, the p-value."""
    ref_counts, cur_counts = counts_of(reference), counts_of(current)
    keys = union_keys(ref_counts, cur_counts)
    k_norm = current.n / reference.n
    f_exp = np.array([ref_counts.get(key, 0) for key in keys], dtype=np.float64) * k_norm
    f_obs = np.array([cur_counts.get(key, 0) for key in keys], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.sum((f_obs - f_exp) ** 2 / f_exp)
    return float(special.chdtrc(float(len(keys) - 1), statistic))


def z(reference: Sample, current: Sample) -> float:
    """Evidently `z`: two-proportion z-test of "equals the smallest value" vs the rest, the p-value."""
    ref_counts, cur_counts = counts_of(reference), counts_of(current)
    if len(ref_counts) == 1 and len(cur_counts) == 1 and next(iter(ref_counts)) == next(iter(cur_counts)):
        return 1.0
    first = sorted(union_keys(ref_counts, cur_counts))[0]  # type: ignore[type-var]
    n1, n2 = reference.n, current.n
    p1 = float(n1 - ref_counts.get(first, 0)) / n1
    p2 = float(n2 - cur_counts.get(first, 0)) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - special.ndtr(np.abs(statistic))))


def jensenshannon(reference: Sample, current: Sample, column_type: str = CATEGORICAL) -> float:
    """Evidently `jensenshannon`: scipy's Jensen-Shannon distance (natural log) of the binned shares."""
    p, q = binned_shares(reference, current, column_type, fill_zeroes=False)
    return _js_distance(p, q)


def _js_distance(p: np.ndarray, q: np.ndarray) -> float:
    p = p / np.sum(p)
    q = q / np.sum(q)
    m = (p + q) / 2.0
    js = np.sum(special.rel_entr(p, m)) + np.sum(special.rel_entr(q, m))
    return float(np.sqrt(js / 2.0))


def _js_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    m = (p + q) / 2.0
    return special.rel_entr(p, m) + special.rel_entr(q, m)


def psi(reference: Sample, current: Sample, column_type: str = CATEGORICAL) -> float:
    """Evidently `psi`: population stability index of the binned shares (empty bins get a tiny share)."""
    p, q = binned_shares(reference, current, column_type, fill_zeroes=True)
    return float(np.sum(_psi_terms(p, q)))


def _js_slope(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The derivative of a Jensen-Shannon term in p: log(2p / (p + q)) (log 2 where q = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(q > 0, np.log(2 * p / (p + q)), math.log(2.0))


def _psi_slope(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The derivative of a PSI term in p: log(p / q) + 1 - q / p."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(p / q) + 1 - q / p


def _psi_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return (p - q) * np.log(p / q)


def binned_with_error(name: str, reference: NumericSummary, current: Sample, column_type: str) -> tuple[float, float]:
    """`jensenshannon` or `psi` of a summarised reference: exact when the Sturges edges are the reference's own
    (the current range lies inside the reference's), else the estimate and its bound by convexity (each bin's
    term is convex in the reference share, smallest where it equals the current share)."""
    if column_type != NUMERICAL or not isinstance(current, NumericSample):
        raise _no_frequencies(reference)
    edges = sturges_edges(reference, current)
    exact = _own_range_edges(reference, current, edges)
    estimate, low, high = summary.histogram_shares(reference, edges, exact)
    q = histogram_sorted(current.sorted, edges) / current.n
    if name == "jensenshannon":
        score = _js_distance(estimate, q)
        if exact:
            return score, 0.0
        q = q / np.sum(q)
        smallest, largest = summary.convex_range(_js_terms, low, high, q)
        chain_smallest, chain_largest = summary.chain_range(_js_terms, _js_slope, summary.edge_counts(reference, edges),
                                                            q, reference.n)
        smallest, largest = max(smallest, chain_smallest), min(largest, chain_largest)
        return score, max(score - math.sqrt(smallest / 2.0), math.sqrt(largest / 2.0) - score)
    p, q = estimate.copy(), q.copy()
    _fill_zeroes(p)
    _fill_zeroes(q)
    score = float(np.sum(_psi_terms(p, q)))
    if exact:
        return score, 0.0
    p_low, p_high = _filled_share_bounds(low, high, 1.0 / reference.n)
    smallest, largest = summary.convex_range(_psi_terms, p_low, p_high, q)
    empty = high == 0
    if ((low > 0) | empty).all() and np.array_equal(p_low[empty], p_high[empty]):  # known empty bins, known fill
        fill = float(p_low[empty][0]) if empty.any() else 1.0

        def filled(shares: np.ndarray) -> np.ndarray:
            return np.where(shares > 0, shares, fill)

        chain_smallest, chain_largest = summary.chain_range(
            lambda shares, q: _psi_terms(filled(shares), q), lambda shares, q: _psi_slope(filled(shares), q),
            summary.edge_counts(reference, edges), q, reference.n)
        smallest, largest = max(smallest, chain_smallest), min(largest, chain_largest)
    return score, max(score - smallest, largest - score)


def _filled_share_bounds(low: np.ndarray, high: np.ndarray, one: float) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the reference shares after `_fill_zeroes`: an empty bin gets the smallest non-empty share / 1e6
    (or 1e-4), so the fill is bounded by what the smallest non-empty share can be; `one` is one value's share."""
    surely = low > 0
    maybe = high > 0
    smallest_low = float(np.min(np.where(surely, low, one)[maybe]))
    smallest_high = float(np.min(high[surely])) if surely.any() else float(np.max(high))
    fill_low, fill_high = (value / 10**6 if value <= 0.0001 else 0.0001 for value in (smallest_low, smallest_high))
    return np.where(surely, low, fill_low), np.where(maybe, high, fill_high)


def _own_range_edges(reference: NumericSummary, current: NumericSample, edges: np.ndarray) -> bool:
    """Are `edges` those the summary stores exact counts for (the reference's own range, dtype and bin count)?"""
    bins = edges.size - 1
    if bins > summary.MAX_STORED_BINS or not reference.minimum <= current.sorted[0] <= current.sorted[-1] <= (
            reference.maximum):
        return False
    own = summary.own_edges(reference.minimum, reference.maximum, reference.dtype, bins)
    return own.dtype == edges.dtype and bool(np.array_equal(own, edges))


def binned_shares(
    reference: Sample, current: Sample, column_type: str, *, fill_zeroes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's `get_binned_data`: a Sturges histogram over both samples for a numerical column with
    more than 20 distinct reference values, otherwise the share of each value seen on either side."""
    if (
        column_type == NUMERICAL
        and isinstance(reference, NumericSample)
        and isinstance(current, NumericSample)
        and reference.n_unique > HISTOGRAM_MIN_UNIQUE
    ):
        edges = sturges_edges(reference, current)
        p = histogram_sorted(reference.sorted, edges) / reference.n
        q = histogram_sorted(current.sorted, edges) / current.n
    else:
        ref_counts, cur_counts = counts_of(reference), counts_of(current)
        keys = union_keys(ref_counts, cur_counts)
        p = np.array([ref_counts.get(key, 0) for key in keys], dtype=np.int64) / reference.n
        q = np.array([cur_counts.get(key, 0) for key in keys], dtype=np.int64) / current.n
    if fill_zeroes:
        _fill_zeroes(p)
        _fill_zeroes(q)
    return p, q


def _fill_zeroes(shares: np.ndarray) -> None:
    smallest = shares[shares != 0].min()
    np.place(shares, shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)


def combined_dtype(reference: NumericSample | NumericSummary, current: NumericSample) -> np.dtype:
    """The dtype of `pd.concat([reference, current])` for numeric columns."""
    return np.result_type(reference.dtype, current.dtype)


def sturges_edges(reference: NumericSample | NumericSummary, current: NumericSample) -> np.ndarray:
    """`np.histogram_bin_edges(pd.concat([reference, current]), bins="sturges")` without the concat.

    Sturges needs only the size and range of the data; the edges are computed in the dtype of the
    concatenation, as numpy does, so float32 and integer columns get numpy's exact edges.
    """
    dtype = combined_dtype(reference, current)
    lowest = min(_smallest(reference), current.sorted[0])
    highest = max(_largest(reference), current.sorted[-1])
    size = reference.n + current.n
    ends = np.array([lowest, highest]).astype(dtype)
    if np.issubdtype(dtype, np.integer):
        ptp: float = float(int(ends[1]) - int(ends[0]))
    else:
        ptp = float(ends[1] - ends[0])
    width = ptp / (np.log2(size) + 1.0)
    if width:
        if np.issubdtype(dtype, np.integer) and width < 1:
            width = 1
        n_bins = int(np.ceil(ptp / width))
    else:
        n_bins = 1
    return np.histogram_bin_edges(ends, bins=n_bins)


def _smallest(sample: NumericSample | NumericSummary) -> float:
    return sample.minimum if isinstance(sample, NumericSummary) else sample.sorted[0]


def _largest(sample: NumericSample | NumericSummary) -> float:
    return sample.maximum if isinstance(sample, NumericSummary) else sample.sorted[-1]


def histogram_sorted(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`np.histogram(values, edges)[0]` for sorted values (the last bin includes its right edge)."""
    edges = edges.astype(np.float64)
    cumulative = np.concatenate((values.searchsorted(edges[:-1], "left"), values.searchsorted(edges[-1:], "right")))
    return np.diff(cumulative)


TestFunction = Callable[[Any, Any, str], float]

_FUNCTIONS: dict[str, TestFunction] = {
    "ks": lambda ref, cur, _type: ks(ref, cur),
    "wasserstein": lambda ref, cur, _type: wasserstein(ref, cur),
    "chisquare": lambda ref, cur, _type: chisquare(ref, cur),
    "z": lambda ref, cur, _type: z(ref, cur),
    "jensenshannon": jensenshannon,
    "psi": psi,
}


def run_test(name: str, reference: Sample, current: Sample, column_type: str) -> float:
    """The score of test `name` for one column."""
    return score_with_error(name, reference, current, column_type)[0]


def score_with_error(name: str, reference: Sample, current: Sample, column_type: str) -> tuple[float, float]:
    """The score of test `name` for one column and a bound on its distance to the score of the full reference
    (0 unless the reference is a summary). Raises `SummaryLimit` when a summary cannot give the test's score."""
    if not isinstance(reference, NumericSummary):
        return _FUNCTIONS[name](reference, current, column_type), 0.0
    if name == "wasserstein" and isinstance(current, NumericSample):
        return wasserstein_with_error(reference, current)
    if name in ("jensenshannon", "psi"):
        return binned_with_error(name, reference, current, column_type)
    return _FUNCTIONS[name](reference, current, column_type), 0.0  # raises SummaryLimit


def default_test(reference: Sample, current: Sample, column_type: str) -> str:
    """Evidently's `_get_default_stattest` for a numerical or categorical column (NaNs already dropped).

    Up to 1000 reference values: ks for a numerical column with more than five distinct values in both
    samples together, chisquare for 3..5 (or 3+ categories), z for at most two. Above 1000: wasserstein
    for numerical columns with more than five values, jensenshannon otherwise.
    """
    n_values = n_values_together(reference, current)
    if reference.n <= 1000:
        if column_type == NUMERICAL and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if column_type == NUMERICAL and n_values > 5:
        return "wasserstein"
    return "jensenshannon"
