"""Two-sample ECDF statistics (the KS statistic, the Wasserstein-1 distance) without sorting both samples.

scipy sorts both samples and evaluates the two empirical CDFs at every value. Here the values are first
cut into a few hundred thousand ordered bins by arithmetic (`floor((x - lo) * scale)`, monotone in x, so a
bin holds a contiguous run of the merged order), and per-bin counts give both CDFs exactly at every bin's
last value. Only the bins where the answer could hide inside are sorted and merged value by value:

- KS: a bin whose CDF difference could exceed the largest (or undercut the smallest) difference seen at
  bin ends. The statistic is then bit for bit scipy's: the same `count / n` floats, maximised over the
  same set of values.
- Wasserstein: a bin where the CDF difference could change sign. Elsewhere `|F1 - F2|` integrates in
  closed form from per-bin counts and sums of values (`x * F` by parts, relative to the bin's first value
  so nothing cancels), which agrees with scipy's sum to ~1e-13 relative.

The bins cover the central 99.8% of a subsample uniformly, with one bin below and one above, so long tails
do not crowd everything into one bin. Small samples go through a plain merge of the sorted samples
(`merged_*`), which is also the reference implementation the binned one is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Below this many values in both samples together the sort-and-merge path is as fast and simpler.
BINNED_MIN_VALUES = 20_000
VALUES_PER_BIN = 16
MAX_BINS = 1 << 22
SUBSAMPLE = 20_000
# Above this share of all values in bins that need a value-by-value pass, sorting everything is cheaper.
EXACT_MAX_SHARE = 0.25
CORE_QUANTILES = (0.001, 0.999)


# --- the plain path: sort, merge, evaluate everywhere -------------------------------------------------


def merge_sorted(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sorted samples merged, and how many values of `a` are at or before each merged position.

    A stable argsort of the two concatenated sorted runs is one timsort merge (linear time).
    """
    both = np.concatenate((a, b))
    order = np.argsort(both, kind="stable")
    return both[order], np.cumsum(order < a.size)


def merged_ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided KS statistic of sorted samples, bit for bit what `scipy.stats.ks_2samp` computes.

    scipy evaluates both empirical CDFs (counts over sizes) at every data value; at a run of equal values
    both CDFs take their value at the run's end, so the last position of each run is all that is needed.
    """
    merged, from_a = merge_sorted(a, b)
    last = np.empty(merged.size, dtype=bool)
    np.not_equal(merged[1:], merged[:-1], out=last[:-1])
    last[-1] = True
    ends = np.flatnonzero(last)
    count_a = from_a[ends]
    return _ks_from_diffs(count_a / a.size - (ends + 1 - count_a) / b.size)


def merged_wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """`scipy.stats.wasserstein_distance(a, b)` for sorted samples, bit for bit.

    scipy takes the CDFs at every merged value but the last; inside a run of equal values the step to the
    next value is zero, so the running count (wrong there) is multiplied by zero.
    """
    merged, from_a = merge_sorted(a, b)
    count_a = from_a[:-1]
    count_b = np.arange(1, merged.size, dtype=count_a.dtype) - count_a
    return float(np.vecdot(np.abs(count_a / a.size - count_b / b.size), np.diff(merged)))


def _ks_from_diffs(cddiffs: np.ndarray) -> float:
    """scipy's choice between the largest positive and the largest negative CDF difference."""
    max_s = cddiffs.max()
    min_s = np.clip(-cddiffs.min(), 0, 1)
    return float(min_s if min_s > max_s else max_s)


# --- the binned path ---------------------------------------------------------------------------------


@dataclass
class _Side:
    """One sample cut into bins: its values, each value's bin, and per-bin counts."""

    values: np.ndarray
    is_sorted: bool
    bins: np.ndarray
    counts: np.ndarray
    through: np.ndarray  # values in this bin and all before it
    before: np.ndarray  # values in the bins before this one
    position: np.ndarray | None  # (value - origin) * scale - bin: where in its bin a value lies

    @property
    def n(self) -> int:
        return int(self.values.size)

    def sorted(self) -> np.ndarray:
        return self.values if self.is_sorted else np.sort(self.values)

    def take(self, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The values in the chosen bins (a boolean per bin), sorted, with their bins."""
        if self.is_sorted:  # each bin is a slice: gather the slices without scanning every value
            picked = np.flatnonzero(chosen & (self.counts > 0))
            lengths = self.counts[picked]
            index = np.repeat(self.before[picked] - (np.cumsum(lengths) - lengths), lengths)
            index += np.arange(index.size)
            return self.values[index], self.bins[index]
        mask = chosen[self.bins]
        values, bins = self.values[mask], self.bins[mask]
        order = np.argsort(values, kind="stable")
        return values[order], bins[order]

    def counts_at(self, chosen: np.ndarray, taken: np.ndarray, points: np.ndarray, bins: np.ndarray) -> np.ndarray:
        """How many values of this sample are <= each point (points lie in chosen bins; `taken` holds
        this sample's values in the chosen bins, sorted)."""
        in_chosen = self.counts * chosen
        start = np.cumsum(in_chosen) - in_chosen
        return self.before[bins] + (np.searchsorted(taken, points, "right") - start[bins])


@dataclass
class _Grid:
    """The common bins: value x falls in bin clip((x - origin) * scale, 0, n_bins + 1) (truncated)."""

    origin: float
    scale: float
    n_bins: int


def _cut(
    a: np.ndarray, b: np.ndarray, a_sorted: bool, b_sorted: bool, *, keep_position: bool = False
) -> tuple[_Side, _Side, _Grid] | None:
    """Cut both samples into the same monotone bins; None when the values are too concentrated to cut."""
    total = a.size + b.size
    n_bins = int(min(max(total // VALUES_PER_BIN, 16), MAX_BINS))
    step = max(1, total // SUBSAMPLE)
    low, high = np.quantile(np.concatenate((a[::step], b[::step])), CORE_QUANTILES)
    if not high > low:
        low, high = min(a.min(), b.min()), max(a.max(), b.max())
        if not high > low:
            return None
    scale = n_bins / (high - low)
    if not np.isfinite(scale):
        return None
    # Bins 1..n_bins cut the core range evenly; bin 0 takes what lies below it, bin n_bins + 1 what lies
    # above. Subtract, scale, clip, truncate: each step is monotone, so bins never reorder values.
    grid = _Grid(low - 1 / scale, scale, n_bins)

    def side(values: np.ndarray, is_sorted: bool) -> _Side:
        position = values - grid.origin
        position *= scale
        clipped = np.clip(position, 0, n_bins + 1, out=None if keep_position else position)
        bins = clipped.astype(np.intp)
        counts = np.bincount(bins, minlength=n_bins + 2)
        through = np.cumsum(counts)
        if keep_position:
            position -= bins  # the offset inside the bin, in bin widths (exact in the core range)
        return _Side(values, is_sorted, bins, counts, through, through - counts, position if keep_position else None)

    return side(a, a_sorted), side(b, b_sorted), grid


def ks_statistic(a: np.ndarray, b: np.ndarray, *, a_sorted: bool = False, b_sorted: bool = False) -> float:
    """Two-sided KS statistic of finite samples, bit for bit `scipy.stats.ks_2samp(a, b).statistic`."""
    cut = None if a.size + b.size < BINNED_MIN_VALUES else _cut(a, b, a_sorted, b_sorted)
    if cut is None:
        return merged_ks_statistic(a if a_sorted else np.sort(a), b if b_sorted else np.sort(b))
    left, right, _ = cut
    n1, n2 = left.n, right.n
    at_ends = left.through / n1 - right.through / n2
    highest, lowest = at_ends.max(), at_ends.min()
    # Inside a bin the difference stays between these bounds (scipy's floats are monotone in the counts).
    upper = left.through / n1 - right.before / n2
    lower = left.before / n1 - right.through / n2
    chosen = (upper > highest) | (lower < lowest)
    if _values_in(chosen, left, right) > EXACT_MAX_SHARE * (n1 + n2):
        # a bin of one repeated value only takes its end value
        chosen &= _extremes(left, right, np.minimum) != _extremes(left, right, np.maximum)
        if _values_in(chosen, left, right) > EXACT_MAX_SHARE * (n1 + n2):  # e.g. identical samples
            return merged_ks_statistic(left.sorted(), right.sorted())
    if chosen.any():
        taken_left, bins_left = left.take(chosen)
        taken_right, bins_right = right.take(chosen)
        points = np.concatenate((taken_left, taken_right))
        bins = np.concatenate((bins_left, bins_right))
        inside = (
            left.counts_at(chosen, taken_left, points, bins) / n1
            - right.counts_at(chosen, taken_right, points, bins) / n2
        )
        highest, lowest = max(highest, inside.max()), min(lowest, inside.min())
    return _ks_from_diffs(np.array([highest, lowest]))


def wasserstein_distance(a: np.ndarray, b: np.ndarray, *, a_sorted: bool = False, b_sorted: bool = False) -> float:
    """`scipy.stats.wasserstein_distance(a, b)` of finite samples (bit for bit for small samples, to
    ~1e-13 relative through the bins)."""
    cut = None if a.size + b.size < BINNED_MIN_VALUES else _cut(a, b, a_sorted, b_sorted, keep_position=True)
    if cut is None:
        return merged_wasserstein(a if a_sorted else np.sort(a), b if b_sorted else np.sort(b))
    left, right, grid = cut
    n1, n2 = left.n, right.n
    n_bins = left.counts.size
    first = _extremes(left, right, np.minimum)
    # Per bin, the sum of (value - first value): from the offsets of the values inside their bins (in bin
    # widths, between 0 and 1 in the core range), so nothing large cancels.
    first_position = (first - grid.origin) * grid.scale - np.arange(n_bins)
    offsets = []
    for side in (left, right):
        assert side.position is not None
        sums = np.bincount(side.bins, weights=side.position, minlength=n_bins)
        offsets.append((sums - side.counts * np.where(side.counts > 0, first_position, 0.0)) / grid.scale)
    # Each occupied bin integrates F1 - F2 from its first value to the next occupied bin's first value
    # (by parts: x * F at the ends minus the values inside, all relative to the bin's first value).
    filled = np.flatnonzero((left.counts + right.counts) > 0)
    following = np.empty(n_bins)
    following[filled[:-1]] = first[filled[1:]]
    following[filled[-1]] = first[filled[-1]]  # F1 = F2 = 1 from the last value on: nothing to add
    difference = left.through[filled] / n1 - right.through[filled] / n2
    integral = (following[filled] - first[filled]) * difference - (offsets[0][filled] / n1 - offsets[1][filled] / n2)
    # Where F1 - F2 keeps one sign throughout the bin (exact, in integers; or the bin holds one repeated
    # value), the integral of |F1 - F2| is |integral|; the other bins are summed value by value.
    lower = left.before[filled] * n2 - right.through[filled] * n1
    upper = left.through[filled] * n2 - right.before[filled] * n1
    one_sign = (lower >= 0) | (upper <= 0)
    chosen = np.zeros(n_bins, dtype=bool)
    chosen[filled[~one_sign]] = True
    if _values_in(chosen, left, right) > EXACT_MAX_SHARE * (n1 + n2):
        one_sign |= first[filled] == _extremes(left, right, np.maximum)[filled]
        chosen[filled[one_sign]] = False
        if _values_in(chosen, left, right) > EXACT_MAX_SHARE * (n1 + n2):  # e.g. identical samples
            return merged_wasserstein(left.sorted(), right.sorted())
    total = float(np.sum(np.abs(integral[one_sign])))
    if chosen.any():
        total += _exact_bins(left, right, chosen, following)
    return total


def _values_in(chosen: np.ndarray, left: _Side, right: _Side) -> int:
    return int(left.counts[chosen].sum() + right.counts[chosen].sum())


def _extremes(left: _Side, right: _Side, extreme: np.ufunc) -> np.ndarray:
    """The smallest (`np.minimum`) or largest (`np.maximum`) value in each bin over both samples; +-inf
    for empty bins."""
    smallest = extreme is np.minimum
    result = np.full(left.counts.size, np.inf if smallest else -np.inf)
    for side in (left, right):
        if side.is_sorted:
            has = side.counts > 0
            ends = side.before[has] if smallest else side.through[has] - 1
            result[has] = extreme(result[has], side.values[ends])
        else:
            extreme.at(result, side.bins, side.values)
    return result


def _exact_bins(left: _Side, right: _Side, chosen: np.ndarray, following: np.ndarray) -> float:
    """scipy's sum of |F1 - F2| * step over the merged values of the chosen bins."""
    taken_left, bins_left = left.take(chosen)
    taken_right, bins_right = right.take(chosen)
    both = np.concatenate((taken_left, taken_right))
    order = np.argsort(both, kind="stable")
    points = both[order]
    bins = np.concatenate((bins_left, bins_right))[order]
    differences = (
        left.counts_at(chosen, taken_left, points, bins) / left.n
        - right.counts_at(chosen, taken_right, points, bins) / right.n
    )
    successors = np.empty_like(points)
    successors[:-1] = points[1:]
    last_in_bin = np.empty(points.size, dtype=bool)
    np.not_equal(bins[1:], bins[:-1], out=last_in_bin[:-1])
    last_in_bin[-1] = True
    successors[last_in_bin] = following[bins[last_in_bin]]
    return float(np.vecdot(np.abs(differences), successors - points))
